//! Client scope (DESIGN.md "Client scope"): a credential bound to WHMCS
//! client ids may touch only those clients' data. Roles decide *which
//! actions*; a rule per action decides *whose data*, reading the canonical
//! parameters ([`check()`]) and, after the call, the answer
//! ([`check_response`]). Pure: the ownership lookups the rules ask for are
//! run by the server, and their answers read here ([`Lookup::answer`]).

mod check;
mod response;
mod rules;
#[cfg(test)]
mod tests;

pub use check::{check, ObjectLookup, ScopePlan, ScopeRefusal};
pub use response::{check_response, LookupAnswer, ResponseViolation};
pub use rules::{
    builtin_rows, Lookup, PathSegment, RuleError, Scope, ScopeRule, ScopeRules,
    DEFAULT_OWNER_FIELDS, TSV_HEADER,
};
