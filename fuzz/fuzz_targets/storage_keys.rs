//! Actor storage (`storage::ActorStore`, SQLite): keys of any text, and
//! `list()` with prefix, start, startAfter, end, reverse and limit, against
//! a sorted map of what was written. Keys sort by their UTF-8 bytes; a
//! prefix's upper bound (the next code point, skipping surrogates) must
//! neither drop nor add a key.
#![no_main]

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use ringworker_io::storage::{ActorStore, ListOptions};

#[derive(Debug, Arbitrary)]
enum Op {
    Put(String, u8),
    Delete(String),
    PutMany(Vec<(String, u8)>),
    DeleteMany(Vec<String>),
    List {
        prefix: Option<String>,
        start: Option<String>,
        start_after: Option<String>,
        end: Option<String>,
        reverse: bool,
        limit: Option<u8>,
    },
}

fuzz_target!(|ops: Vec<Op>| {
    let mut store = ActorStore::open_in_memory().expect("an in-memory store");
    let mut model: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for op in ops.into_iter().take(64) {
        match op {
            Op::Put(k, v) => {
                if store.put(&k, &[v]).is_ok() {
                    model.insert(k, vec![v]);
                }
            }
            Op::Delete(k) => {
                if let Ok(existed) = store.delete(&k) {
                    assert_eq!(existed, model.remove(&k).is_some(), "delete {k:?}");
                }
            }
            Op::PutMany(entries) => {
                let entries: Vec<(String, Vec<u8>)> =
                    entries.into_iter().map(|(k, v)| (k, vec![v])).collect();
                if store.put_many(&entries).is_ok() {
                    model.extend(entries);
                }
            }
            Op::DeleteMany(keys) => {
                if let Ok(n) = store.delete_many(&keys) {
                    let mut unique = keys.clone();
                    unique.sort();
                    unique.dedup();
                    let existed = unique.iter().filter(|k| model.remove(*k).is_some()).count();
                    assert_eq!(n, existed, "delete_many {keys:?}");
                }
            }
            Op::List { prefix, start, start_after, end, reverse, limit } => {
                let opts = ListOptions {
                    start: start.clone(),
                    start_after: start_after.clone(),
                    end: end.clone(),
                    prefix: prefix.clone(),
                    reverse,
                    limit: limit.map(usize::from),
                };
                let Ok(got) = store.list(&opts) else { continue };
                let mut expect: Vec<(String, Vec<u8>)> = model
                    .iter()
                    .filter(|(k, _)| prefix.as_ref().is_none_or(|p| k.starts_with(p.as_str())))
                    .filter(|(k, _)| start.as_ref().is_none_or(|s| k.as_str() >= s.as_str()))
                    .filter(|(k, _)| start_after.as_ref().is_none_or(|s| k.as_str() > s.as_str()))
                    .filter(|(k, _)| end.as_ref().is_none_or(|e| k.as_str() < e.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                if reverse {
                    expect.reverse();
                }
                if let Some(l) = opts.limit {
                    expect.truncate(l);
                }
                assert_eq!(got, expect, "{opts:?}");
            }
        }
    }
});
