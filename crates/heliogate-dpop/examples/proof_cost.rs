//! What checking one DPoP proof costs on this machine, without I/O: `cargo run --release -p
//! heliogate-dpop --example proof_cost --features signing`. Prints microseconds per check.

use std::time::Instant;

use heliogate_dpop::{verify, Expected, ProofClaims, ProofKey};

fn main() {
    let Some(key) = ProofKey::generate() else {
        eprintln!("no random source");
        std::process::exit(1);
    };
    let uri = "https://id.example.org/oauth/token";
    let now = 1_800_000_000;
    let proofs: Vec<String> = (0..5_000)
        .map(|_| {
            key.proof(ProofClaims {
                method: "POST",
                uri,
                access_token: None,
                nonce: Some("nonce"),
                iat: now,
            })
        })
        .collect();
    let expected = Expected {
        method: "POST",
        uri,
        access_token: None,
        now,
    };
    for round in 0..3 {
        let start = Instant::now();
        let passed = proofs
            .iter()
            .filter(|p| verify(p, &expected).is_ok())
            .count();
        let each = start.elapsed().as_secs_f64() * 1e6 / proofs.len() as f64;
        println!("round {round}: {passed} ES256 proofs checked, {each:.1} us each");
    }
}
