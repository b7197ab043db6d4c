//! Tests of the statement text both engines accept.

#[test]
fn values_placeholders_number_every_parameter() {
    assert_eq!(super::values_placeholders(1, 2), "($1, $2)");
    assert_eq!(
        super::values_placeholders(2, 3),
        "($1, $2, $3), ($4, $5, $6)"
    );
    assert_eq!(
        super::values_placeholders_cast(2, &["", "::json"]),
        "($1, $2::json), ($3, $4::json)"
    );
}
