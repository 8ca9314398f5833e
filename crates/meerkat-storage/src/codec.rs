//! Text forms of roster values as stored in the database, shared by the SQL backends so both
//! store the same strings (a dump of one can be read by the other).
//!
//! Decoding returns [`StorageError::Backend`] on an unknown value: a value the code never wrote
//! means a corrupted row or a newer schema, and must fail the one request, not the process.

use crate::roster::{Ask, Subscription};
use crate::{Result, StorageError};

/// The `subscription` column value.
pub(crate) fn subscription_to_str(subscription: Subscription) -> &'static str {
    match subscription {
        Subscription::None => "none",
        Subscription::To => "to",
        Subscription::From => "from",
        Subscription::Both => "both",
    }
}

/// Parses the `subscription` column.
pub(crate) fn subscription_from_str(text: &str) -> Result<Subscription> {
    match text {
        "none" => Ok(Subscription::None),
        "to" => Ok(Subscription::To),
        "from" => Ok(Subscription::From),
        "both" => Ok(Subscription::Both),
        other => Err(StorageError::Backend(format!("unknown roster subscription {other:?}"))),
    }
}

/// The `ask` column value.
pub(crate) fn ask_to_str(ask: Ask) -> &'static str {
    match ask {
        Ask::None => "none",
        Ask::Subscribe => "subscribe",
    }
}

/// Parses the `ask` column.
pub(crate) fn ask_from_str(text: &str) -> Result<Ask> {
    match text {
        "none" => Ok(Ask::None),
        "subscribe" => Ok(Ask::Subscribe),
        other => Err(StorageError::Backend(format!("unknown roster ask {other:?}"))),
    }
}

/// Encodes groups as a JSON array of strings, sorted and unique whatever order the caller gave
/// (the [`crate::RosterItem::groups`] invariant is then true of everything read back). JSON and
/// not a separator-joined list because a group name is free text and may hold any separator.
pub(crate) fn groups_to_json(groups: &[String]) -> Result<String> {
    let mut sorted: Vec<&str> = groups.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    serde_json::to_string(&sorted)
        .map_err(|e| StorageError::Backend(format!("encoding roster groups: {e}")))
}

/// Decodes the groups column; the stored list is already sorted and unique.
pub(crate) fn groups_from_json(text: &str) -> Result<Vec<String>> {
    serde_json::from_str(text)
        .map_err(|e| StorageError::Backend(format!("corrupted roster groups {text:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_round_trips() {
        for s in [Subscription::None, Subscription::To, Subscription::From, Subscription::Both] {
            assert_eq!(subscription_from_str(subscription_to_str(s)).ok(), Some(s));
        }
        assert!(matches!(subscription_from_str("maybe"), Err(StorageError::Backend(_))));
    }

    #[test]
    fn ask_round_trips() {
        for a in [Ask::None, Ask::Subscribe] {
            assert_eq!(ask_from_str(ask_to_str(a)).ok(), Some(a));
        }
        assert!(matches!(ask_from_str("unsubscribe"), Err(StorageError::Backend(_))));
    }

    #[test]
    fn groups_are_sorted_unique_and_survive_separators() {
        let groups = vec![
            "b".to_owned(),
            "a\nb".to_owned(),
            "a,\"c\"".to_owned(),
            "b".to_owned(),
            String::new(),
        ];
        let json = groups_to_json(&groups).expect("encodes");
        let back = groups_from_json(&json).expect("decodes");
        assert_eq!(back, vec!["".to_owned(), "a\nb".to_owned(), "a,\"c\"".to_owned(), "b".into()]);
        assert_eq!(groups_from_json("[]").expect("empty"), Vec::<String>::new());
        assert!(matches!(groups_from_json("not json"), Err(StorageError::Backend(_))));
        assert!(matches!(groups_from_json("[1]"), Err(StorageError::Backend(_))));
    }
}
