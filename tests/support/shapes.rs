//! The web console's own expectations: every response it reads, checked
//! against its JSON Schemas in `../shared/client-shapes/ui-console/` (one
//! file per response, read at test time, never copied) with a JSON Schema
//! validator, formats asserted.

#![allow(dead_code)]

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

/// Where the console's schemas are: `CLIENT_SHAPES_DIR`, else the
/// `shared/` folder beside the checkout.
pub fn shapes_dir() -> PathBuf {
    std::env::var_os("CLIENT_SHAPES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/client-shapes/ui-console")
        })
}

/// Every schema of the folder, compiled, and what failed against them.
pub struct ConsoleShapes {
    validators: BTreeMap<String, jsonschema::Validator>,
    checked: Mutex<BTreeMap<String, usize>>,
    failures: Mutex<Vec<String>>,
}

impl ConsoleShapes {
    /// Compiles every `*.schema.json` of [`shapes_dir`] (draft 2020-12,
    /// with `format` asserted, as the folder's README asks).
    pub fn load() -> ConsoleShapes {
        let dir = shapes_dir();
        let mut validators = BTreeMap::new();
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("the console's schemas at {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some(name) = name.strip_suffix(".schema.json") else {
                continue;
            };
            let text = std::fs::read_to_string(&path).expect("schema file");
            let schema: Value = serde_json::from_str(&text).expect("schema is JSON");
            let validator = jsonschema::draft202012::options()
                .should_validate_formats(true)
                .build(&schema)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            validators.insert(name.to_string(), validator);
        }
        assert!(
            validators.len() >= 30,
            "only {} schemas in {}",
            validators.len(),
            dir.display()
        );
        ConsoleShapes {
            validators,
            checked: Mutex::default(),
            failures: Mutex::default(),
        }
    }

    /// Validates `value` (what `what` answered) against schema `schema`
    /// (the file name without `.schema.json`); a failure is kept, so one
    /// run reports every response that breaks the console.
    pub fn check(&self, schema: &str, what: &str, value: &Value) {
        let validator = self
            .validators
            .get(schema)
            .unwrap_or_else(|| panic!("no schema {schema}.schema.json"));
        *self
            .checked
            .lock()
            .unwrap()
            .entry(schema.to_string())
            .or_default() += 1;
        // One line per kind of fault: the same fault in every item of a
        // list is reported once, with its first place.
        let mut seen = std::collections::BTreeSet::new();
        let errors: Vec<String> = validator
            .iter_errors(value)
            .filter(|e| {
                let place = e.instance_path().to_string();
                let kind: String = place
                    .split('/')
                    .map(|part| {
                        if part.parse::<u64>().is_ok() {
                            "*"
                        } else {
                            part
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("/");
                seen.insert(format!("{kind} {:?}", e.kind()))
            })
            .map(|e| format!("  at {}: {e}", e.instance_path()))
            .collect();
        if !errors.is_empty() {
            let mut shown = value.to_string();
            if shown.len() > 600 {
                let mut cut = 600;
                while !shown.is_char_boundary(cut) {
                    cut -= 1;
                }
                shown.truncate(cut);
                shown.push('…');
            }
            self.failures.lock().unwrap().push(format!(
                "{what} breaks {schema}.schema.json:\n{}\n  body: {shown}",
                errors.join("\n")
            ));
        }
    }

    /// Whether `value` conforms to `schema` (for the negative checks that
    /// prove the validator bites).
    pub fn conforms(&self, schema: &str, value: &Value) -> bool {
        self.validators[schema].is_valid(value)
    }

    /// Fails with every non-conforming response, and when a schema of the
    /// folder was never exercised (a new console expectation no test
    /// covers yet).
    pub fn finish(&self) {
        let failures = self.failures.lock().unwrap();
        let checked = self.checked.lock().unwrap();
        let unchecked: Vec<&String> = self
            .validators
            .keys()
            .filter(|name| !checked.contains_key(*name))
            .collect();
        assert!(
            failures.is_empty() && unchecked.is_empty(),
            "{} responses break the console:\n{}\nschemas never checked: {unchecked:?}",
            failures.len(),
            failures.join("\n")
        );
    }
}
