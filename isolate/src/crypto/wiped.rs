//! [`Wiped`]: a boxed value whose memory is zeroed after it is dropped, for
//! ring's key pairs (which keep their secrets inline and do not zero them).

use std::mem::ManuallyDrop;

/// A `T` on the heap, overwritten with zeros once dropped. Only for types
/// that keep their secrets inline (no heap pointers): ring's
/// `EcdsaKeyPair` and `Ed25519KeyPair` are such.
pub(crate) struct Wiped<T>(Box<ManuallyDrop<T>>);

impl<T> Wiped<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(Box::new(ManuallyDrop::new(value)))
    }
}

impl<T> std::ops::Deref for Wiped<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> Drop for Wiped<T> {
    fn drop(&mut self) {
        let ptr: *mut ManuallyDrop<T> = &mut *self.0;
        // SAFETY: the value is dropped exactly once, here; afterwards its
        // bytes are plain memory inside the live box, which `zeroize`
        // overwrites with volatile writes before the box is freed.
        unsafe {
            ManuallyDrop::drop(&mut *ptr);
            let bytes = std::slice::from_raw_parts_mut(ptr as *mut u8, std::mem::size_of::<T>());
            zeroize::Zeroize::zeroize(bytes);
        }
    }
}
