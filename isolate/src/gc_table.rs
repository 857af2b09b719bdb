//! Native state owned by a JS object: a per-isolate table whose entries
//! live until the op that uses them removes them, or until V8 collects the
//! JS object that holds them (a script that drops a half-read form parser
//! or a compression stream leaks nothing). One table per state type, kept
//! in an isolate slot; used by `formdata.rs` and `compression.rs`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

/// Entries of one kind, by id.
pub(crate) struct GcTable<T> {
    entries: RefCell<HashMap<u32, Entry<T>>>,
    /// Ids whose holder was collected while `entries` was borrowed (V8 may
    /// collect during an op): removed on the next access.
    dead: Cell<Vec<u32>>,
    next: Cell<u32>,
}

struct Entry<T> {
    value: T,
    _watch: v8::Weak<v8::Object>,
}

impl<T: 'static> GcTable<T> {
    /// This isolate's table for `T` (made on first use).
    pub(crate) fn of(isolate: &mut v8::Isolate) -> Rc<Self> {
        if let Some(t) = isolate.get_slot::<Rc<Self>>() {
            return t.clone();
        }
        let t = Rc::new(Self {
            entries: RefCell::new(HashMap::new()),
            dead: Cell::new(Vec::new()),
            next: Cell::new(0),
        });
        isolate.set_slot(t.clone());
        t
    }

    /// Adds `value`, owned by `holder`: it goes when V8 collects `holder`
    /// (or earlier, by [`GcTable::remove`]). Returns its id.
    pub(crate) fn insert(
        &self,
        scope: &mut v8::PinScope,
        holder: v8::Local<v8::Object>,
        value: T,
    ) -> u32 {
        self.sweep();
        let id = self.next.get().wrapping_add(1).max(1);
        self.next.set(id);
        let watch = v8::Weak::with_finalizer(
            scope,
            holder,
            Box::new(move |isolate: &mut v8::Isolate| {
                if let Some(t) = isolate.get_slot::<Rc<Self>>() {
                    t.forget(id);
                }
            }),
        );
        self.entries.borrow_mut().insert(
            id,
            Entry {
                value,
                _watch: watch,
            },
        );
        id
    }

    /// Runs `f` on entry `id` (None if there is none).
    pub(crate) fn with<R>(&self, id: u32, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        self.sweep();
        let mut entries = self.entries.borrow_mut();
        entries.get_mut(&id).map(|e| f(&mut e.value))
    }

    /// Takes entry `id` out.
    pub(crate) fn remove(&self, id: u32) -> Option<T> {
        self.sweep();
        self.entries.borrow_mut().remove(&id).map(|e| e.value)
    }

    fn forget(&self, id: u32) {
        match self.entries.try_borrow_mut() {
            // (The entry's own watch is dropped here, inside its finalizer,
            // as runtime.rs does for fetch bodies.)
            Ok(mut entries) => drop(entries.remove(&id)),
            Err(_) => {
                let mut dead = self.dead.take();
                dead.push(id);
                self.dead.set(dead);
            }
        }
    }

    fn sweep(&self) {
        let dead = self.dead.take();
        if dead.is_empty() {
            return;
        }
        if let Ok(mut entries) = self.entries.try_borrow_mut() {
            for id in dead {
                entries.remove(&id);
            }
        } else {
            self.dead.set(dead);
        }
    }
}
