//! The special names' values of one accepted request, in one buffer.

use std::fmt;

use super::Special;

/// The value of each [`Special`] sent, laid out in [`Special::ALL`] order
/// in one buffer: a call carries up to seven (typically four), and one
/// allocation holds them all instead of one each.
///
/// The layout is a function of the values alone, so the derived equality
/// is the values' equality.
#[derive(Clone, Default, PartialEq, Eq)]
pub(super) struct SpecialValues {
    bytes: Vec<u8>,
    /// Each special's value as `bytes[start..end]`; `None` when not sent.
    spans: [Option<(usize, usize)>; Special::ALL.len()],
}

impl SpecialValues {
    /// Copies the values, indexed by `Special as usize`, into one buffer
    /// of their total size.
    pub(super) fn new(values: &[Option<&[u8]>; Special::ALL.len()]) -> Self {
        let total = values.iter().flatten().map(|v| v.len()).sum();
        let mut bytes = Vec::with_capacity(total);
        let spans = values.map(|value| {
            value.map(|value| {
                let start = bytes.len();
                bytes.extend_from_slice(value);
                (start, bytes.len())
            })
        });
        Self { bytes, spans }
    }

    /// The value of `special`, if sent.
    pub(super) fn get(&self, special: Special) -> Option<&[u8]> {
        self.spans[special as usize].map(|(start, end)| &self.bytes[start..end])
    }
}

impl fmt::Debug for SpecialValues {
    /// As the array of optional values it replaces prints
    /// (`[Some([97]), None, …]`), so `CanonicalParams`' output is unchanged.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Special::ALL.map(|s| self.get(s)).fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_print_as_before() {
        let values: [Option<&[u8]>; 7] = [
            Some(b"GetClients"),
            None,
            Some(b""),
            None,
            None,
            Some(b"\xff\0"),
            Some(b"json"),
        ];
        let special = SpecialValues::new(&values);
        for s in Special::ALL {
            assert_eq!(special.get(s), values[s as usize], "{s:?}");
        }
        let before: [Option<Vec<u8>>; 7] = values.map(|v| v.map(<[u8]>::to_vec));
        assert_eq!(format!("{special:?}"), format!("{before:?}"));
        assert_eq!(format!("{special:#?}"), format!("{before:#?}"));
        assert_eq!(
            format!("{:?}", SpecialValues::default()),
            format!("{:?}", <[Option<Vec<u8>>; 7]>::default())
        );
        assert_eq!(special.clone(), special);
        assert_ne!(SpecialValues::new(&[None; 7]), special);
    }
}
