//! [`Mesh`]: cross-shard mailboxes, one per shard, for work that must run on
//! a particular shard (an actor's home).
//!
//! A mailbox is a lock-free queue plus a doorbell (one end of a socketpair):
//! a sender pushes, then writes one byte only if the mailbox was not already
//! rung, so a burst of messages costs one wake-up. The receiving shard waits
//! on its doorbell with whatever reactor it uses (the network ring, so a
//! shard idle in it wakes at once), then [`drain`](Mesh::drain)s.
//!
//! ```
//! use ringworker_core::mesh::Mesh;
//! let mesh: Mesh<String> = Mesh::new(2).unwrap();
//! mesh.send(1, "hello".to_string()).unwrap();
//! let mut got = Vec::new();
//! mesh.drain(1, |m| got.push(m));
//! assert_eq!(got, ["hello"]);
//! ```

use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_queue::SegQueue;

/// Why a message could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    /// No shard of that index.
    #[error("no shard {0} in the mesh")]
    NoShard(usize),
    /// The shard's doorbell is closed (it exited).
    #[error("shard {0} is not running")]
    ShardGone(usize),
}

struct Mailbox<T> {
    queue: SegQueue<T>,
    rung: AtomicBool,
    bell: UnixStream,
    /// The receiving end, taken once by the shard that waits on it.
    rx: Mutex<Option<UnixStream>>,
}

/// Mailboxes for `n` shards. `Send + Sync + Clone`; clone it into every shard.
pub struct Mesh<T> {
    boxes: Arc<Vec<Mailbox<T>>>,
}

impl<T> Clone for Mesh<T> {
    fn clone(&self) -> Self {
        Self {
            boxes: self.boxes.clone(),
        }
    }
}

impl<T> std::fmt::Debug for Mesh<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mesh")
            .field("shards", &self.boxes.len())
            .finish()
    }
}

impl<T: Send> Mesh<T> {
    /// Mailboxes for shards `0..n`.
    pub fn new(n: usize) -> std::io::Result<Self> {
        let mut boxes = Vec::with_capacity(n);
        for _ in 0..n {
            let (bell, rx) = UnixStream::pair()?;
            bell.set_nonblocking(true)?;
            rx.set_nonblocking(true)?;
            boxes.push(Mailbox {
                queue: SegQueue::new(),
                rung: AtomicBool::new(false),
                bell,
                rx: Mutex::new(Some(rx)),
            });
        }
        Ok(Self {
            boxes: Arc::new(boxes),
        })
    }

    /// How many shards.
    pub fn len(&self) -> usize {
        self.boxes.len()
    }

    /// Whether the mesh has no shard.
    pub fn is_empty(&self) -> bool {
        self.boxes.is_empty()
    }

    /// Queues `msg` for shard `to` and rings its doorbell if it is not rung.
    pub fn send(&self, to: usize, msg: T) -> Result<(), MeshError> {
        let b = self.boxes.get(to).ok_or(MeshError::NoShard(to))?;
        b.queue.push(msg);
        if !b.rung.swap(true, Ordering::AcqRel) {
            match (&b.bell).write(&[1]) {
                Ok(_) => {}
                // A full doorbell is still rung.
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return Err(MeshError::ShardGone(to)),
            }
        }
        Ok(())
    }

    /// Shard `shard`'s doorbell (non-blocking; readable when rung), once.
    pub fn take_doorbell(&self, shard: usize) -> Option<OwnedFd> {
        let b = self.boxes.get(shard)?;
        let rx = b.rx.lock().ok()?.take()?;
        Some(OwnedFd::from(rx))
    }

    /// Takes every message queued for `shard`, in order. Call after the
    /// doorbell was read (a message sent meanwhile rings it again).
    pub fn drain(&self, shard: usize, mut f: impl FnMut(T)) {
        let Some(b) = self.boxes.get(shard) else {
            return;
        };
        b.rung.store(false, Ordering::Release);
        while let Some(m) = b.queue.pop() {
            f(m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_burst_rings_once_and_drains_in_order() {
        let mesh: Mesh<u32> = Mesh::new(2).unwrap();
        let fd = mesh.take_doorbell(0).unwrap();
        assert!(mesh.take_doorbell(0).is_none(), "taken once");
        for i in 0..100 {
            mesh.send(0, i).unwrap();
        }
        let mut bell = UnixStream::from(fd);
        let mut buf = [0u8; 16];
        assert_eq!(bell.read(&mut buf).unwrap(), 1, "one byte for the burst");
        let mut got = Vec::new();
        mesh.drain(0, |m| got.push(m));
        assert_eq!(got, (0..100).collect::<Vec<_>>());
        // Rung again after a drain.
        mesh.send(0, 7).unwrap();
        assert_eq!(bell.read(&mut buf).unwrap(), 1);
        assert!(matches!(mesh.send(5, 1), Err(MeshError::NoShard(5))));
    }

    #[test]
    fn senders_on_many_threads_lose_nothing() {
        let mesh: Mesh<(usize, u32)> = Mesh::new(1).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let m = mesh.clone();
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        m.send(0, (t, i)).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let mut per = [0u32; 4];
        mesh.drain(0, |(t, i)| {
            assert_eq!(per[t], i, "per-sender order");
            per[t] += 1;
        });
        assert_eq!(per, [1000; 4]);
    }
}
