//! A fixed-size bitset of catalog actions: the union of a credential's roles.

use crate::catalog::ActionId;

/// A set of [`ActionId`]s, one bit each.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct ActionSet {
    words: Box<[u64]>,
}

impl ActionSet {
    /// An empty set able to hold `capacity` actions.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            words: vec![0; capacity.div_ceil(64)].into_boxed_slice(),
        }
    }

    /// Adds an action; ids beyond the capacity are ignored.
    pub fn insert(&mut self, id: ActionId) {
        let (word, bit) = Self::position(id);
        if let Some(w) = self.words.get_mut(word) {
            *w |= 1 << bit;
        }
    }

    /// Whether the set holds `id`.
    pub fn contains(&self, id: ActionId) -> bool {
        let (word, bit) = Self::position(id);
        self.words.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }

    /// Adds every action of `other`.
    pub fn union_with(&mut self, other: &ActionSet) {
        for (mine, theirs) in self.words.iter_mut().zip(other.words.iter()) {
            *mine |= theirs;
        }
    }

    /// Number of actions in the set.
    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Whether the set holds no action.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|w| *w == 0)
    }

    /// The bits, 64 actions per word, for [`crate::snapshot`] to lay many
    /// sets out in one flat array.
    pub(crate) fn words(&self) -> &[u64] {
        &self.words
    }

    /// The word holding `id`'s bit, and the bit within it.
    pub(crate) fn position(id: ActionId) -> (usize, u32) {
        let index = id.index();
        (index / 64, (index % 64) as u32)
    }
}

impl std::fmt::Debug for ActionSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ActionSet({} actions)", self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_contains_union() {
        let mut a = ActionSet::with_capacity(130);
        let mut b = ActionSet::with_capacity(130);
        a.insert(ActionId::from_index(0));
        b.insert(ActionId::from_index(129));
        assert!(a.contains(ActionId::from_index(0)));
        assert!(!a.contains(ActionId::from_index(129)));
        a.union_with(&b);
        assert!(a.contains(ActionId::from_index(129)));
        assert_eq!(a.len(), 2);
        assert!(!a.is_empty());
        assert!(ActionSet::with_capacity(10).is_empty());
    }

    #[test]
    fn out_of_range_is_ignored() {
        let mut a = ActionSet::with_capacity(3);
        a.insert(ActionId::from_index(500));
        assert!(!a.contains(ActionId::from_index(500)));
        assert!(a.is_empty());
    }
}
