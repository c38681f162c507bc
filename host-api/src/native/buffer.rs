//! [`TesseraBuffer`]: bytes a native plugin hands to the kernel.

use std::mem::ManuallyDrop;

/// Bytes allocated by a native plugin and returned through the `out`
/// parameter of `tessera_native_handle` or `tessera_native_on_event`.
///
/// The kernel reads `len` bytes at `ptr`, then passes the buffer, unchanged,
/// to the same library's `tessera_native_free`. `capacity` belongs to the
/// library (it is the `Vec`'s capacity for a Rust plugin) and the kernel
/// only carries it back. A null `ptr` means no bytes (`len` is then 0).
///
/// The type is neither `Clone` nor `Copy`, so that safe code cannot free a
/// buffer twice.
///
/// ```
/// use tessera_host_api::native::TesseraBuffer;
///
/// let buffer = TesseraBuffer::from_vec(b"hello".to_vec());
/// assert_eq!(buffer.len(), 5);
/// // SAFETY: `buffer` comes from `from_vec` in this program and is freed once.
/// let bytes = unsafe { buffer.into_vec() };
/// assert_eq!(bytes, b"hello");
/// ```
#[repr(C)]
#[derive(Debug)]
pub struct TesseraBuffer {
    /// First byte, or null for no bytes.
    pub ptr: *mut u8,
    /// Number of initialised bytes at `ptr`.
    pub len: usize,
    /// Allocation size, meaningful only to the library that allocated it.
    pub capacity: usize,
}

impl TesseraBuffer {
    /// No bytes: a null pointer, as the kernel initialises `out` before a
    /// call.
    ///
    /// ```
    /// let empty = tessera_host_api::native::TesseraBuffer::empty();
    /// assert!(empty.ptr.is_null() && empty.is_empty());
    /// ```
    pub const fn empty() -> Self {
        Self {
            ptr: std::ptr::null_mut(),
            len: 0,
            capacity: 0,
        }
    }

    /// Hand `bytes` over as a buffer; they are freed by
    /// [`into_vec`](Self::into_vec) (which `tessera_native_free` calls) and
    /// leak otherwise.
    ///
    /// ```
    /// let buffer = tessera_host_api::native::TesseraBuffer::from_vec(vec![1, 2, 3]);
    /// assert_eq!(buffer.len(), 3);
    /// # unsafe { buffer.into_vec() };
    /// ```
    pub fn from_vec(bytes: Vec<u8>) -> Self {
        let mut bytes = ManuallyDrop::new(bytes);
        Self {
            ptr: bytes.as_mut_ptr(),
            len: bytes.len(),
            capacity: bytes.capacity(),
        }
    }

    /// Take back a buffer made by [`from_vec`](Self::from_vec). A null
    /// buffer gives an empty `Vec`.
    ///
    /// # Safety
    ///
    /// `self` was returned by [`from_vec`](Self::from_vec) in the same
    /// library (so with the same global allocator), its fields were not
    /// changed, and it was not taken back before.
    ///
    /// ```
    /// use tessera_host_api::native::TesseraBuffer;
    ///
    /// let buffer = TesseraBuffer::from_vec(vec![7; 10]);
    /// // SAFETY: made by `from_vec` above, taken back once.
    /// assert_eq!(unsafe { buffer.into_vec() }, vec![7; 10]);
    /// ```
    pub unsafe fn into_vec(self) -> Vec<u8> {
        if self.ptr.is_null() {
            return Vec::new();
        }
        // SAFETY: by this function's contract the three fields are those of
        // a `Vec<u8>` from this allocator that was forgotten by `from_vec`
        // and is reconstituted only once.
        unsafe { Vec::from_raw_parts(self.ptr, self.len, self.capacity) }
    }

    /// The bytes, borrowed: how the kernel reads a plugin's answer. `None`
    /// when the fields cannot describe bytes (a null pointer with a nonzero
    /// length, or a length above `isize::MAX`).
    ///
    /// # Safety
    ///
    /// Unless `ptr` is null, `ptr` points to `len` initialised bytes that
    /// nothing writes or frees while the returned slice is alive: for a
    /// buffer a plugin returned, until it is passed to
    /// `tessera_native_free`.
    ///
    /// ```
    /// use tessera_host_api::native::TesseraBuffer;
    ///
    /// let buffer = TesseraBuffer::from_vec(b"abc".to_vec());
    /// // SAFETY: the buffer holds 3 bytes and is freed only after the read.
    /// assert_eq!(unsafe { buffer.as_bytes() }, Some(&b"abc"[..]));
    /// # unsafe { buffer.into_vec() };
    /// ```
    pub unsafe fn as_bytes(&self) -> Option<&[u8]> {
        if self.ptr.is_null() {
            return (self.len == 0).then_some(&[]);
        }
        if self.len > isize::MAX as usize {
            return None;
        }
        // SAFETY: `ptr` is non-null and, by this function's contract, points
        // to `len` (at most `isize::MAX`) initialised bytes that stay valid
        // and unchanged for the slice's lifetime, which is tied to `&self`.
        Some(unsafe { std::slice::from_raw_parts(self.ptr, self.len) })
    }

    /// The number of bytes.
    ///
    /// ```
    /// assert_eq!(tessera_host_api::native::TesseraBuffer::empty().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer holds no bytes.
    ///
    /// ```
    /// assert!(tessera_host_api::native::TesseraBuffer::empty().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Default for TesseraBuffer {
    fn default() -> Self {
        Self::empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_round_trips_through_from_vec_and_into_vec() {
        for bytes in [Vec::new(), vec![0u8], (0..=255).collect::<Vec<u8>>()] {
            let buffer = TesseraBuffer::from_vec(bytes.clone());
            assert_eq!(unsafe { buffer.as_bytes() }, Some(bytes.as_slice()));
            assert_eq!(unsafe { buffer.into_vec() }, bytes);
        }
    }

    #[test]
    fn impossible_buffers_are_not_read() {
        let null_with_length = TesseraBuffer {
            ptr: std::ptr::null_mut(),
            len: 4,
            capacity: 4,
        };
        assert_eq!(unsafe { null_with_length.as_bytes() }, None);
        let mut byte = 0u8;
        let too_long = TesseraBuffer {
            ptr: &mut byte,
            len: usize::MAX,
            capacity: 0,
        };
        assert_eq!(unsafe { too_long.as_bytes() }, None);
        let empty = TesseraBuffer::empty();
        assert_eq!(unsafe { empty.as_bytes() }, Some(&[][..]));
        assert!(unsafe { TesseraBuffer::empty().into_vec() }.is_empty());
    }
}
