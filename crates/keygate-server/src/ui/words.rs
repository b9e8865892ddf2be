//! Counted nouns for people: "1 action", "2 actions", "0 credentials".

/// `n` and `noun`, the noun singular for exactly one and with an "s"
/// otherwise ("1 action", "2 actions"); for nouns whose plural is `noun`
/// + "s" (action, credential, role, second, admin).
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn singular_only_for_one() {
        assert_eq!(count(0, "action"), "0 actions");
        assert_eq!(count(1, "action"), "1 action");
        assert_eq!(count(2, "credential"), "2 credentials");
    }
}
