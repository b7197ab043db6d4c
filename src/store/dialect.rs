//! What differs between the two engines' SQL, and the multi-row statement
//! text both accept.

#[cfg(test)]
mod tests;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The cast after a text parameter bound into a `json` column (the
    /// log's payload and metadata): the `Any` driver binds text, which
    /// PostgreSQL does not assign to a JSON column uncast. SQLite keeps
    /// JSON as text.
    pub(crate) fn json_param(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => "::json",
        }
    }

    /// `column` read as text: the `Any` driver decodes no JSON type.
    pub(crate) fn as_text(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => column.to_string(),
            Dialect::Postgres => format!("{column}::text"),
        }
    }
}

/// Rows per multi-row INSERT: under SQLite's 999-parameter limit.
pub(crate) const INSERT_CHUNK: usize = 100;

/// `($1, $2), ($3, $4)` for `rows` rows of `columns` parameters each: the
/// VALUES list of a multi-row INSERT, in the syntax both engines accept.
pub(crate) fn values_placeholders(rows: usize, columns: usize) -> String {
    values_placeholders_cast(rows, &vec![""; columns])
}

/// [`values_placeholders`] with each column's parameter followed by its
/// cast (`""` for none): `($1, $2::json)` for `["", "::json"]`.
pub(crate) fn values_placeholders_cast(rows: usize, casts: &[&str]) -> String {
    let columns = casts.len();
    let mut sql = String::with_capacity(rows * columns * 8);
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for (column, cast) in casts.iter().enumerate() {
            if column > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}{cast}", row * columns + column + 1));
        }
        sql.push(')');
    }
    sql
}
