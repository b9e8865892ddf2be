//! PHP's ordered array as request variables fill it: integer and string
//! keys (decimal strings become integers), updates in place, `[]` appends
//! at the next free integer index (PHP 8 rules), and the merge that builds
//! `$_REQUEST` from `$_GET` and `$_POST`.

use std::borrow::Cow;
use std::collections::HashMap;

use super::name::Segment;

/// An array key after PHP's numeric-string rule.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    /// A decimal integer key (`5`, `-3`; not `05`, `-0` or `+1`).
    Int(i64),
    /// Any other key, as bytes.
    Str(Vec<u8>),
}

impl Key {
    /// The key PHP makes of `bytes` (`ZEND_HANDLE_NUMERIC_STR`).
    pub fn from_bytes(bytes: &[u8]) -> Key {
        match integer(bytes) {
            Some(n) => Key::Int(n),
            None => Key::Str(bytes.to_vec()),
        }
    }

    /// The key as written in a request variable's name.
    pub fn write(&self, out: &mut Vec<u8>) {
        match self {
            Key::Int(n) => write_int(out, *n),
            Key::Str(s) => out.extend_from_slice(s),
        }
    }

    /// Whether this is the string key `name`, ignoring ASCII case.
    pub fn is_named(&self, name: &str) -> bool {
        matches!(self, Key::Str(s) if s.eq_ignore_ascii_case(name.as_bytes()))
    }
}

/// `n` in decimal, as `n.to_string()` spells it but without a temporary
/// string: the forwarded form writes one per integer key.
fn write_int(out: &mut Vec<u8>, n: i64) {
    // 19 digits hold `i64::MIN.unsigned_abs()`; 20 is `u64::MAX`'s.
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    let mut rest = n.unsigned_abs();
    loop {
        start -= 1;
        // `rest % 10 < 10`: the cast cannot truncate.
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if n < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&digits[start..]);
}

/// A key as a name spells it, not yet copied: an array looks it up before
/// owning it, so naming an entry that is already there (`pid[]=1&pid[]=2`)
/// copies nothing.
enum Named<'a> {
    /// A decimal integer key.
    Int(i64),
    /// Any other key, borrowed from the name when it can be.
    Str(Cow<'a, [u8]>),
}

impl<'a> Named<'a> {
    /// The key PHP makes of `bytes`, as [`Key::from_bytes`] does.
    fn new(bytes: Cow<'a, [u8]>) -> Self {
        match integer(&bytes) {
            Some(n) => Named::Int(n),
            None => Named::Str(bytes),
        }
    }

    /// Whether `key` is this key.
    fn is(&self, key: &Key) -> bool {
        match (self, key) {
            (Named::Int(a), Key::Int(b)) => a == b,
            (Named::Str(a), Key::Str(b)) => **a == **b,
            _ => false,
        }
    }

    /// The key, owned.
    fn into_key(self) -> Key {
        match self {
            Named::Int(n) => Key::Int(n),
            Named::Str(bytes) => Key::Str(bytes.into_owned()),
        }
    }
}

/// `-?(0|[1-9][0-9]*)` within `i64`, except `-0`.
fn integer(bytes: &[u8]) -> Option<i64> {
    let digits = bytes.strip_prefix(b"-").unwrap_or(bytes);
    let canonical = match digits {
        [b'0'] => bytes.len() == 1,
        [b'1'..=b'9', rest @ ..] => rest.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    if !canonical {
        return None;
    }
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

/// A request variable's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A string (PHP strings are bytes).
    Str(Vec<u8>),
    /// A nested array.
    Array(PhpArray),
}

/// Arrays larger than this get a hash index; smaller ones are scanned.
const INDEXED_FROM: usize = 16;

/// See the module documentation.
#[derive(Clone, Debug, Default)]
pub struct PhpArray {
    entries: Vec<(Key, Value)>,
    /// PHP's `nNextFreeElement`: `None` until an integer key is added.
    next_free: Option<i64>,
    /// Position of each key, once the array is large.
    index: Option<HashMap<Key, usize>>,
}

impl PartialEq for PhpArray {
    /// Same keys, values and order (the index is only a cache).
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

impl Eq for PhpArray {}

impl PhpArray {
    /// Entries in order.
    pub fn entries(&self) -> &[(Key, Value)] {
        &self.entries
    }

    /// Number of top-level entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the array has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value at `key`.
    pub fn get(&self, key: &Key) -> Option<&Value> {
        self.position(key).map(|i| &self.entries[i].1)
    }

    fn position(&self, key: &Key) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(key).copied(),
            None => self.entries.iter().position(|(k, _)| k == key),
        }
    }

    /// The position of `key`, or the key owned to push it. A small array
    /// (no index) is scanned before anything is copied; a large one needs
    /// an owned key for its index anyway.
    fn find(&self, key: Named<'_>) -> Result<usize, Key> {
        if self.index.is_none() {
            return match self.entries.iter().position(|(k, _)| key.is(k)) {
                Some(at) => Ok(at),
                None => Err(key.into_key()),
            };
        }
        let key = key.into_key();
        self.position(&key).ok_or(key)
    }

    /// [`PhpArray::update`] of a key not yet copied.
    fn set(&mut self, key: Named<'_>, value: Value) {
        match self.find(key) {
            Ok(at) => self.entries[at].1 = value,
            Err(key) => {
                self.push(key, value);
            }
        }
    }

    /// Sets `key` to `value`: in place if present, else at the end.
    /// Returns the slot.
    pub fn update(&mut self, key: Key, value: Value) -> &mut Value {
        let at = match self.position(&key) {
            Some(at) => {
                self.entries[at].1 = value;
                at
            }
            None => self.push(key, value),
        };
        &mut self.entries[at].1
    }

    /// `[]`: adds `value` at the next free integer key; `None` when PHP's
    /// insert fails (the next key is `i64::MAX` and taken).
    pub fn append(&mut self, value: Value) -> Option<&mut Value> {
        let key = Key::Int(self.next_free.unwrap_or(0));
        if self.position(&key).is_some() {
            return None;
        }
        let at = self.push(key, value);
        Some(&mut self.entries[at].1)
    }

    fn push(&mut self, key: Key, value: Value) -> usize {
        if let Key::Int(n) = key {
            if self.next_free.is_none_or(|next| n >= next) {
                self.next_free = Some(n.saturating_add(1));
            }
        }
        let at = self.entries.len();
        if let Some(index) = &mut self.index {
            index.insert(key.clone(), at);
        } else if at >= INDEXED_FROM {
            let mut index: HashMap<Key, usize> = self
                .entries
                .iter()
                .enumerate()
                .map(|(i, (k, _))| (k.clone(), i))
                .collect();
            index.insert(key.clone(), at);
            self.index = Some(index);
        }
        self.entries.push((key, value));
        at
    }

    /// The array at `key`, made one if absent or not an array (PHP
    /// replaces a string in place).
    fn array_at(&mut self, key: Named<'_>) -> &mut PhpArray {
        let at = match self.find(key) {
            Ok(at) => at,
            Err(key) => self.push(key, Value::Array(PhpArray::default())),
        };
        let slot = &mut self.entries[at].1;
        if !matches!(slot, Value::Array(_)) {
            *slot = Value::Array(PhpArray::default());
        }
        match slot {
            Value::Array(array) => array,
            Value::Str(_) => unreachable!("replaced by an array just above"),
        }
    }

    /// Registers one variable: `base` then `path`, as PHP does. The base
    /// comes as [`super::name::parse`] gives it: a key is copied out of
    /// the name only when it is new.
    pub fn register(&mut self, base: Cow<'_, [u8]>, path: &[Segment<'_>], value: Vec<u8>) {
        let mut table = self;
        let mut key = Some(Named::new(base));
        for segment in path {
            table = match key {
                Some(key) => table.array_at(key),
                None => match table.append(Value::Array(PhpArray::default())) {
                    Some(Value::Array(array)) => array,
                    _ => return,
                },
            };
            key = match segment {
                Segment::Append => None,
                Segment::Key(k) => Some(Named::new(Cow::Borrowed(k))),
            };
        }
        match key {
            Some(key) => table.set(key, Value::Str(value)),
            None => {
                table.append(Value::Str(value));
            }
        }
    }

    /// `php_autoglobal_merge`: `other`'s entries override, arrays present
    /// on both sides merge recursively.
    pub fn merge(&mut self, other: PhpArray) {
        for (key, value) in other.entries {
            match value {
                Value::Array(incoming) => {
                    if let Some(Value::Array(existing)) =
                        self.position(&key).map(|at| &mut self.entries[at].1)
                    {
                        existing.merge(incoming);
                    } else {
                        self.update(key, Value::Array(incoming));
                    }
                }
                value => {
                    self.update(key, value);
                }
            }
        }
    }

    /// Removes the entry at `key`, returning its value.
    pub fn remove(&mut self, key: &Key) -> Option<Value> {
        let at = self.position(key)?;
        let (_, value) = self.entries.remove(at);
        if let Some(index) = &mut self.index {
            index.remove(key);
            for position in index.values_mut() {
                if *position > at {
                    *position -= 1;
                }
            }
        }
        Some(value)
    }

    /// Drops arrays left empty: a form body cannot express them.
    pub fn prune_empty(&mut self) {
        let before = self.entries.len();
        for (_, value) in &mut self.entries {
            if let Value::Array(array) = value {
                array.prune_empty();
            }
        }
        self.entries
            .retain(|(_, v)| !matches!(v, Value::Array(a) if a.is_empty()));
        if self.entries.len() != before {
            self.index = None;
            if self.entries.len() > INDEXED_FROM {
                self.index = Some(
                    self.entries
                        .iter()
                        .enumerate()
                        .map(|(i, (k, _))| (k.clone(), i))
                        .collect(),
                );
            }
        }
    }

    /// Number of strings at any depth: the pairs a form of it carries.
    pub fn leaves(&self) -> usize {
        self.entries
            .iter()
            .map(|(_, v)| match v {
                Value::Str(_) => 1,
                Value::Array(a) => a.leaves(),
            })
            .sum()
    }

    /// Every string with its full name (`base[k1][k2]`), in order.
    pub fn for_each_leaf(&self, visit: &mut dyn FnMut(&[u8], &[u8])) {
        let mut name = Vec::new();
        for (key, value) in &self.entries {
            name.clear();
            key.write(&mut name);
            value.for_each_leaf(&mut name, visit);
        }
    }
}

impl Value {
    fn for_each_leaf(&self, name: &mut Vec<u8>, visit: &mut dyn FnMut(&[u8], &[u8])) {
        match self {
            Value::Str(s) => visit(name, s),
            Value::Array(array) => {
                let len = name.len();
                for (key, value) in &array.entries {
                    name.push(b'[');
                    key.write(name);
                    name.push(b']');
                    value.for_each_leaf(name, visit);
                    name.truncate(len);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_keys_table() {
        let cases: &[(&[u8], Option<i64>)] = &[
            (b"0", Some(0)),
            (b"5", Some(5)),
            (b"-3", Some(-3)),
            (b"9223372036854775807", Some(i64::MAX)),
            (b"-9223372036854775808", Some(i64::MIN)),
            (b"9223372036854775808", None),
            (b"05", None),
            (b"-0", None),
            (b"+1", None),
            (b"1.5", None),
            (b" 1", None),
            (b"1 ", None),
            (b"", None),
            (b"-", None),
        ];
        for (bytes, expected) in cases {
            assert_eq!(
                integer(bytes),
                *expected,
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn integer_keys_are_written_as_to_string_spells_them() {
        for n in [
            0,
            1,
            9,
            10,
            -1,
            -10,
            12345,
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
        ] {
            let mut out = b"x".to_vec();
            Key::Int(n).write(&mut out);
            assert_eq!(out, format!("x{n}").into_bytes());
        }
    }

    /// The registration before keys were looked up by their bytes: every
    /// key owned first, then found or pushed.
    fn register_owned(table: &mut PhpArray, base: Vec<u8>, path: &[Segment<'_>], value: Vec<u8>) {
        fn array_at(table: &mut PhpArray, key: Key) -> &mut PhpArray {
            let at = match table.position(&key) {
                Some(at) => at,
                None => table.push(key, Value::Array(PhpArray::default())),
            };
            let slot = &mut table.entries[at].1;
            if !matches!(slot, Value::Array(_)) {
                *slot = Value::Array(PhpArray::default());
            }
            match slot {
                Value::Array(array) => array,
                Value::Str(_) => unreachable!(),
            }
        }
        let mut table = table;
        let mut key = Some(Key::from_bytes(&base));
        for segment in path {
            table = match key {
                Some(key) => array_at(table, key),
                None => match table.append(Value::Array(PhpArray::default())) {
                    Some(Value::Array(array)) => array,
                    _ => return,
                },
            };
            key = match segment {
                Segment::Append => None,
                Segment::Key(k) => Some(Key::from_bytes(k)),
            };
        }
        match key {
            Some(key) => {
                table.update(key, Value::Str(value));
            }
            None => {
                table.append(Value::Str(value));
            }
        }
    }

    /// Keys found by their bytes land where owned keys would, in small
    /// (scanned) and large (indexed) arrays, at every depth.
    #[test]
    fn named_keys_find_what_owned_keys_find() {
        let segments = [
            Segment::Key(b"5"),
            Segment::Append,
            Segment::Key(b"k"),
            Segment::Key(b"-0"),
        ];
        for size in [3, 17, 60] {
            let mut named = PhpArray::default();
            let mut owned = PhpArray::default();
            for round in 0..3 {
                for i in 0..size {
                    let base = match i % 4 {
                        0 => format!("{}", i % 23),
                        _ => format!("b{}", i % 19),
                    }
                    .into_bytes();
                    let value = format!("{round}.{i}").into_bytes();
                    let path = &segments[..(i + round) % 5];
                    named.register(Cow::Borrowed(&base), path, value.clone());
                    register_owned(&mut owned, base, path, value);
                }
            }
            assert_eq!(named, owned, "{size}");
            assert_eq!(named.next_free, owned.next_free, "{size}");
            assert_eq!(named.index.is_some(), owned.index.is_some(), "{size}");
        }
    }

    #[test]
    fn appends_follow_php_8() {
        let mut a = PhpArray::default();
        a.update(Key::Int(-5), Value::Str(b"1".to_vec()));
        a.append(Value::Str(b"2".to_vec()));
        assert_eq!(a.entries()[1].0, Key::Int(-4));

        let mut b = PhpArray::default();
        b.update(Key::Int(i64::MAX), Value::Str(b"1".to_vec()));
        assert!(b.append(Value::Str(b"2".to_vec())).is_none());
        assert_eq!(b.len(), 1);
    }

    #[test]
    fn large_arrays_are_indexed_and_stay_consistent() {
        let mut a = PhpArray::default();
        for i in 0..100 {
            a.update(Key::Str(format!("k{i}").into_bytes()), Value::Str(vec![]));
        }
        assert!(a.index.is_some());
        a.update(Key::Str(b"k7".to_vec()), Value::Str(b"x".to_vec()));
        assert_eq!(a.len(), 100);
        assert_eq!(
            a.remove(&Key::Str(b"k3".to_vec())),
            Some(Value::Str(vec![]))
        );
        assert_eq!(
            a.get(&Key::Str(b"k7".to_vec())),
            Some(&Value::Str(b"x".to_vec()))
        );
        assert_eq!(a.get(&Key::Str(b"k99".to_vec())), Some(&Value::Str(vec![])));
    }
}
