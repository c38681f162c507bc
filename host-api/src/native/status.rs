//! [`NativeStatus`]: what `tessera_native_handle` and
//! `tessera_native_on_event` return.

/// The `i32` a native call returns, and what `out` then holds.
///
/// ```
/// use tessera_host_api::native::NativeStatus;
///
/// assert_eq!(NativeStatus::from_code(2), Some(NativeStatus::Panic));
/// assert_eq!(NativeStatus::Panic.code(), 2);
/// assert_eq!(NativeStatus::from_code(42), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum NativeStatus {
    /// `0`: success; `out` holds the encoded answer (a JSON
    /// `NativeResponse` for `handle`, nothing for `on_event`).
    Ok = 0,
    /// `1`: the plugin refused or failed the call on purpose (an event
    /// handler's `Err`); `out` holds a UTF-8 message.
    Error = 1,
    /// `2`: the plugin panicked; the panic was caught and `out` holds its
    /// message.
    Panic = 2,
    /// `3`: the plugin could not decode its input (or `out` was null); `out`
    /// holds a UTF-8 message when it can.
    BadInput = 3,
}

impl NativeStatus {
    /// The status for a returned code; `None` for a code this ABI version
    /// does not define.
    ///
    /// ```
    /// use tessera_host_api::native::NativeStatus;
    ///
    /// assert_eq!(NativeStatus::from_code(0), Some(NativeStatus::Ok));
    /// assert_eq!(NativeStatus::from_code(-1), None);
    /// ```
    pub fn from_code(code: i32) -> Option<Self> {
        match code {
            0 => Some(Self::Ok),
            1 => Some(Self::Error),
            2 => Some(Self::Panic),
            3 => Some(Self::BadInput),
            _ => None,
        }
    }

    /// The code returned across the ABI.
    ///
    /// ```
    /// assert_eq!(tessera_host_api::native::NativeStatus::BadInput.code(), 3);
    /// ```
    pub fn code(self) -> i32 {
        self as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_round_trips_through_its_code() {
        for status in [
            NativeStatus::Ok,
            NativeStatus::Error,
            NativeStatus::Panic,
            NativeStatus::BadInput,
        ] {
            assert_eq!(NativeStatus::from_code(status.code()), Some(status));
        }
        assert_eq!(NativeStatus::from_code(4), None);
    }
}
