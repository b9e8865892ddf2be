//! Synthetic data shared by the benchmark targets: a [`SnapshotSource`] with
//! 50 roles of 20 to 160 catalog actions, a few admins, and `n` credentials
//! holding 3 roles each, plus the requests the timed loops replay, and
//! ([`with_lifecycle`]) the same credentials with an expiry and an allowlist.
//!
//! Everything comes from a seeded generator, so two runs (and two targets)
//! measure exactly the same data.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};

use keygate_core::model::Lifecycle;
use keygate_core::net::IpNet;
use keygate_core::snapshot::{AdminEntry, CredentialEntry, RoleEntry};
use keygate_core::{ActionSet, AdminId, Catalog, Rate, RoleId, SecretHashes, SnapshotSource};

/// Credential counts every target measures.
pub const SIZES: [usize; 3] = [1_000, 100_000, 1_000_000];

const ROLES: usize = 50;
const ROLES_PER_CREDENTIAL: usize = 3;
const ADMINS: usize = 4;
const TOKEN_LEN: usize = 32;
const ALPHANUMERIC: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// SplitMix64: tiny, fast and deterministic, which is all the fixture needs
/// (the real secrets come from the OS CSPRNG; these only have to look alike).
pub struct Rng(u64);

impl Rng {
    /// A generator with a fixed seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..bound`; the modulo bias is irrelevant here.
    pub fn below(&mut self, bound: usize) -> usize {
        (self.next_u64() % bound as u64) as usize
    }

    /// 32 alphanumeric characters, shaped like a generated identifier or secret.
    fn token(&mut self) -> Token {
        let mut bytes = [0u8; TOKEN_LEN];
        for b in &mut bytes {
            *b = ALPHANUMERIC[self.below(ALPHANUMERIC.len())];
        }
        Token(bytes)
    }
}

/// An identifier or secret kept inline, so a list of requests is one
/// contiguous block the harness walks in order: the only cache misses left in
/// the timed loop are the snapshot's own.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Token([u8; TOKEN_LEN]);

impl Token {
    /// The token's text.
    pub fn as_str(&self) -> &str {
        // Always ASCII alphanumerics, so this never fails.
        std::str::from_utf8(&self.0).expect("tokens are ASCII")
    }
}

/// One replayable request per credential, covering every benchmarked case.
pub struct Probe {
    /// A credential's identifier.
    pub identifier: Token,
    /// That credential's secret.
    pub secret: Token,
    /// An identifier no credential has.
    pub unknown: Token,
    /// An action one of the credential's roles allows.
    pub allowed: &'static str,
    /// An action none of the credential's roles allows.
    pub denied: &'static str,
}

/// A source of `n` credentials and, in a shuffled order, one probe for each.
pub struct Fixture {
    /// What `Snapshot::build` reads.
    pub source: SnapshotSource,
    /// Requests to replay, in an order unrelated to insertion order.
    pub probes: Vec<Probe>,
}

/// Action names with a `'static` lifetime, so probes can hold plain `&str`s;
/// leaked once per process, which is harmless in a benchmark.
fn action_names(catalog: &Catalog) -> &'static [String] {
    let names: Vec<String> = catalog.actions().map(|(_, a)| a.name.clone()).collect();
    Box::leak(names.into_boxed_slice())
}

/// Builds the fixture for `n` credentials. Hashing the secrets (SHA-256 and
/// MD5 per credential) takes about a second per million; callers do it once
/// per size, outside any timed section.
pub fn fixture(n: usize, catalog: &Catalog) -> Fixture {
    let mut rng = Rng::new(0x6b65_7967_6174_6521 ^ n as u64);
    let names = action_names(catalog);

    let admins = (0..ADMINS)
        .map(|i| AdminEntry {
            id: AdminId(i as i64 + 1),
            username: format!("admin{i}"),
            enabled: true,
        })
        .collect();

    // Each role: a random subset of 20 to 160 actions, by partial shuffle.
    let mut role_sets = Vec::with_capacity(ROLES);
    let mut roles = Vec::with_capacity(ROLES);
    for r in 0..ROLES {
        let count = 20 + rng.below(141);
        let mut order: Vec<usize> = (0..names.len()).collect();
        for i in 0..count {
            let j = i + rng.below(order.len() - i);
            order.swap(i, j);
        }
        let mut set = ActionSet::with_capacity(names.len());
        for &a in &order[..count] {
            set.insert(keygate_core::ActionId::from_index(a));
        }
        role_sets.push(set);
        roles.push(RoleEntry {
            id: RoleId(r as i64 + 1),
            name: format!("Role {r}"),
            actions: order[..count].iter().map(|&a| names[a].clone()).collect(),
        });
    }

    let mut credentials = Vec::with_capacity(n);
    let mut probes = Vec::with_capacity(n);
    let mut seen = HashSet::with_capacity(n);
    while credentials.len() < n {
        let identifier = rng.token();
        if !seen.insert(identifier) {
            continue;
        }
        let picked = pick_roles(&mut rng);
        let mut union = ActionSet::with_capacity(names.len());
        for &r in &picked {
            union.union_with(&role_sets[r]);
        }
        // Three large roles can cover the whole catalog; such a credential
        // has no action to deny, so draw again rather than special-case it.
        if union.len() == names.len() {
            seen.remove(&identifier);
            continue;
        }
        let allowed = pick_action(&mut rng, names.len(), |id| union.contains(id));
        let denied = pick_action(&mut rng, names.len(), |id| !union.contains(id));
        let secret = rng.token();
        credentials.push(CredentialEntry {
            identifier: identifier.as_str().to_string(),
            hashes: SecretHashes::of(secret.as_str()),
            admin_id: AdminId((credentials.len() % ADMINS) as i64 + 1),
            role_ids: picked.iter().map(|&r| RoleId(r as i64 + 1)).collect(),
            lifecycle: Default::default(),
            old_secret: None,
        });
        probes.push(Probe {
            identifier,
            secret,
            unknown: Token([0; TOKEN_LEN]),
            allowed: &names[allowed],
            denied: &names[denied],
        });
    }
    for probe in &mut probes {
        probe.unknown = loop {
            let candidate = rng.token();
            if !seen.contains(&candidate) {
                break candidate;
            }
        };
    }
    // Fisher-Yates, so consecutive lookups land far apart in the snapshot.
    for i in (1..probes.len()).rev() {
        probes.swap(i, rng.below(i + 1));
    }

    Fixture {
        source: SnapshotSource {
            revision: 1,
            admins,
            roles,
            credentials,
        },
        probes,
    }
}

fn pick_roles(rng: &mut Rng) -> [usize; ROLES_PER_CREDENTIAL] {
    let mut picked = [usize::MAX; ROLES_PER_CREDENTIAL];
    let mut filled = 0;
    while filled < ROLES_PER_CREDENTIAL {
        let r = rng.below(ROLES);
        if !picked[..filled].contains(&r) {
            picked[filled] = r;
            filled += 1;
        }
    }
    picked
}

fn pick_action(
    rng: &mut Rng,
    len: usize,
    wanted: impl Fn(keygate_core::ActionId) -> bool,
) -> usize {
    loop {
        let a = rng.below(len);
        if wanted(keygate_core::ActionId::from_index(a)) {
            return a;
        }
    }
}

/// An expiry every lifecycle credential has: 2100-01-01, always ahead.
pub const FAR_EXPIRY: i64 = 4_102_444_800;

/// The address lifecycle probes call from: inside the second allowlist
/// entry, so the check walks the whole list, as a credential used from its
/// fallback network would.
pub const ALLOWED_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 20, 30, 40));

/// `source` with every credential given the lifecycle settings that cost
/// something on the hot path: an expiry in the future, a 2-entry allowlist
/// admitting [`ALLOWED_IP`] (a documentation network first, then
/// 10.0.0.0/8), and, when `rate` is given, its own rate limit. Each
/// credential gets its own allowlist allocation, as a loaded snapshot has.
pub fn with_lifecycle(source: &SnapshotSource, rate: Option<Rate>) -> SnapshotSource {
    let nets: [IpNet; 2] = [
        "203.0.113.0/24".parse().unwrap(),
        "10.0.0.0/8".parse().unwrap(),
    ];
    let mut source = source.clone();
    for credential in &mut source.credentials {
        credential.lifecycle = Lifecycle {
            enabled: true,
            expires_at: Some(FAR_EXPIRY),
            allow_ips: nets.to_vec(),
            rate_limit: rate,
            client_ids: Vec::new(),
        };
    }
    source
}
