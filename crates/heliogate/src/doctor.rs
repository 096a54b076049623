//! `heliogate doctor`: what a running installation depends on, checked from its settings —
//! the database (reachable, schema), the issuer and the cookies that follow from it, trusted
//! proxies, the signing keys and the key that seals them, files, the clock — one line per
//! check, and a failure naming every problem.

use std::net::IpAddr;
use std::path::Path;

use heliogate_app::oidc::sealing;
use heliogate_core::SigningAlg;
use heliogate_store::{ConnectOptions, Store};
use serde::Serialize;

use crate::settings::Settings;
use crate::Io;

/// One check's outcome.
#[derive(Debug, Serialize)]
struct Check {
    check: &'static str,
    ok: bool,
    detail: String,
}

fn ok(check: &'static str, detail: impl Into<String>) -> Check {
    Check {
        check,
        ok: true,
        detail: detail.into(),
    }
}

fn problem(check: &'static str, detail: impl Into<String>) -> Check {
    Check {
        check,
        ok: false,
        detail: detail.into(),
    }
}

/// How far the database's clock may stand from this machine's: token lifetimes and the
/// triggers that end tokens read the database's.
const MAX_SKEW: i64 = 2;

pub async fn run(settings: &Settings, io: &mut Io<'_>, dir: &Path) -> anyhow::Result<()> {
    let mut checks = vec![ok(
        "settings",
        format!(
            "listen {}, database {}",
            settings.listen, settings.database_url
        ),
    )];
    checks.extend(issuer_checks(settings));
    checks.push(proxies_check(settings));
    match sqlite_path(settings).filter(|path| !Path::new(path).exists()) {
        // Opening it would create it: the doctor changes nothing.
        Some(path) => checks.push(ok(
            "database",
            format!("{path} does not exist yet: the first start creates it"),
        )),
        None => {
            let url = settings.database_url.expose();
            match heliogate_store::connect(url, &ConnectOptions::default()).await {
                Ok(store) => {
                    checks.extend(store_checks(&*store, settings).await);
                    store.close().await;
                }
                Err(e) => checks.push(problem("database", format!("cannot be opened: {e:#}"))),
            }
        }
    }
    checks.extend(file_checks(settings, dir));

    let problems: Vec<String> = checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| format!("{}: {}", c.check, c.detail))
        .collect();
    io.print(&checks, || {
        checks
            .iter()
            .map(|c| {
                format!(
                    "{}  {}: {}",
                    if c.ok { "ok  " } else { "FAIL" },
                    c.check,
                    c.detail
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    match problems.len() {
        0 => Ok(()),
        n => anyhow::bail!(
            "{n} problem{}: {}",
            if n == 1 { "" } else { "s" },
            problems.join("; ")
        ),
    }
}

fn issuer_checks(settings: &Settings) -> Vec<Check> {
    let issuer = settings.issuer(settings.listen);
    let Ok(url) = url::Url::parse(&issuer) else {
        return vec![problem("issuer", format!("{issuer} is not a URL"))];
    };
    let how = if settings.configured_issuer.is_some() {
        "HELIOGATE_ISSUER"
    } else {
        "derived from HELIOGATE_LISTEN: set HELIOGATE_ISSUER to the public URL"
    };
    let https = url.scheme() == "https";
    let issuer_check = if https {
        ok("issuer", format!("{issuer} ({how})"))
    } else if heliogate_core::client::is_loopback(&url) {
        ok(
            "issuer",
            format!("{issuer} ({how}): http on a loopback host, for development only"),
        )
    } else {
        problem(
            "issuer",
            format!(
                "{issuer} is http on a host others reach: passwords, tokens and cookies travel \
                 in the clear; serve it as https"
            ),
        )
    };
    let cookies = if https {
        ok(
            "cookies",
            "Secure, HttpOnly, SameSite=Lax (the issuer is https)",
        )
    } else {
        ok(
            "cookies",
            "HttpOnly, SameSite=Lax, not Secure: the issuer is http",
        )
    };
    vec![issuer_check, cookies]
}

fn proxies_check(settings: &Settings) -> Check {
    let networks = settings.trusted_proxies.networks();
    if networks.is_empty() {
        return ok(
            "trusted proxies",
            "none: every request's address is its peer's (set HELIOGATE_TRUSTED_PROXIES behind a reverse proxy)",
        );
    }
    let public: [IpAddr; 2] = [
        IpAddr::from([8, 8, 8, 8]),
        IpAddr::from([0x2001, 0x4860, 0, 0, 0, 0, 0, 0x8888]),
    ];
    if public.iter().any(|ip| networks.contains(*ip)) {
        problem(
            "trusted proxies",
            format!(
                "{networks} takes in public addresses: any client there could name its own \
                 address (and escape the sign-in throttle); name only your proxies"
            ),
        )
    } else {
        ok("trusted proxies", networks.to_string())
    }
}

async fn store_checks(store: &dyn Store, settings: &Settings) -> Vec<Check> {
    let mut checks = Vec::new();
    if let Err(e) = store.ping().await {
        checks.push(problem("database", format!("not reachable: {e}")));
        return checks;
    }
    checks.push(ok("database", "reachable"));
    let applied = match store.schema_version().await {
        Ok((applied, known)) if applied > known => {
            checks.push(problem(
                "schema",
                format!(
                    "version {applied}, newer than this heliogate ({known}): upgrade heliogate"
                ),
            ));
            return checks;
        }
        Ok((0, known)) => {
            checks.push(ok(
                "schema",
                format!(
                    "none yet: the first start (or `heliogate migrate`) creates version {known}"
                ),
            ));
            0
        }
        Ok((applied, known)) if applied < known => {
            checks.push(ok(
                "schema",
                format!("version {applied}; the next start migrates it to {known}"),
            ));
            applied
        }
        Ok((applied, _)) => {
            checks.push(ok("schema", format!("version {applied}, up to date")));
            applied
        }
        Err(e) => {
            checks.push(problem("schema", e.to_string()));
            return checks;
        }
    };
    match store.database_time().await {
        Ok(theirs) => {
            let skew = theirs - heliogate_app::now();
            if skew.abs() <= MAX_SKEW {
                checks.push(ok(
                    "clock",
                    format!("the database's is {skew:+} s from this machine's"),
                ));
            } else {
                checks.push(problem(
                    "clock",
                    format!(
                        "the database's is {skew:+} s from this machine's: token lifetimes \
                         would not hold; synchronise both (NTP)"
                    ),
                ));
            }
        }
        Err(e) => checks.push(problem("clock", e.to_string())),
    }
    if applied == 0 {
        return checks;
    }
    let issuer = settings.issuer(settings.listen);
    match store.instance_value("issuer").await {
        Ok(Some(recorded)) if recorded != issuer => checks.push(problem(
            "issuer",
            format!(
                "the database is served as {recorded}, not {issuer}: the server would refuse to \
                 start (`heliogate migrate` records a new issuer on purpose)"
            ),
        )),
        Ok(_) => {}
        Err(e) => checks.push(problem("issuer", e.to_string())),
    }
    checks.push(keys_check(store, settings).await);
    if let Some(check) = upstreams_check(store, settings).await {
        checks.push(check);
    }
    checks
}

/// The identity providers' client secrets open with the key-encryption key in force (a sign-in
/// through one whose secret does not would fail); no line when there are none.
async fn upstreams_check(store: &dyn Store, settings: &Settings) -> Option<Check> {
    let upstreams = match store.list_upstreams().await {
        Ok(upstreams) => upstreams,
        Err(e) => return Some(problem("identity providers", e.to_string())),
    };
    if upstreams.is_empty() {
        return None;
    }
    let kek = settings.key_encryption.as_ref();
    let problems: Vec<String> = upstreams
        .iter()
        .filter_map(|u| {
            let secret = u.client_secret.as_ref()?;
            let aad = heliogate_app::upstream::secret_aad(&u.name);
            sealing::open(kek, &aad, secret)
                .err()
                .map(|e| format!("{}: {e}", u.name))
        })
        .collect();
    Some(if problems.is_empty() {
        ok(
            "identity providers",
            format!("{}, their secrets readable", upstreams.len()),
        )
    } else {
        problem("identity providers", problems.join("; "))
    })
}

async fn keys_check(store: &dyn Store, settings: &Settings) -> Check {
    let keys = match store.signing_keys(heliogate_app::now()).await {
        Ok(keys) => keys,
        Err(e) => return problem("signing keys", e.to_string()),
    };
    if keys.is_empty() {
        return ok("signing keys", "none yet: the first start makes them");
    }
    let kek = settings.key_encryption.as_ref();
    let mut problems = Vec::new();
    let missing: Vec<&str> = SigningAlg::ALL
        .iter()
        .map(|alg| alg.as_str())
        .filter(|alg| !keys.iter().any(|k| k.alg == *alg))
        .collect();
    if !missing.is_empty() {
        problems.push(format!(
            "no {} key (the next start makes one)",
            missing.join(", ")
        ));
    }
    let sealed = keys
        .iter()
        .filter(|k| sealing::is_sealed(&k.private_key))
        .count();
    for key in &keys {
        if let Err(e) = sealing::open(kek, &key.kid, &key.private_key) {
            problems.push(format!("key {}: {e}", key.kid));
        }
    }
    if kek.is_some() && sealed < keys.len() {
        problems.push(format!(
            "{} of {} keys are stored in the clear although HELIOGATE_KEY_ENCRYPTION_KEY is set: \
             `heliogate key rotate` replaces them with sealed ones",
            keys.len() - sealed,
            keys.len()
        ));
    }
    if problems.is_empty() {
        let how = if sealed == keys.len() {
            "sealed, and the key-encryption key opens them"
        } else {
            "stored in the clear (no HELIOGATE_KEY_ENCRYPTION_KEY)"
        };
        ok("signing keys", format!("{} keys, {how}", keys.len()))
    } else {
        problem("signing keys", problems.join("; "))
    }
}

/// The file of an SQLite database.
fn sqlite_path(settings: &Settings) -> Option<&str> {
    let url = settings.database_url.expose();
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    path.split('?').next()
}

fn file_checks(settings: &Settings, dir: &Path) -> Vec<Check> {
    use std::os::unix::fs::PermissionsExt;
    let mut checks = Vec::new();
    if let Some(path) = sqlite_path(settings) {
        match std::fs::metadata(path) {
            Ok(meta) if meta.permissions().mode() & 0o077 != 0 => checks.push(problem(
                "files",
                format!(
                    "{path} can be read by others (mode {:o}): it holds password and token \
                     hashes; chmod 600 it",
                    meta.permissions().mode() & 0o777
                ),
            )),
            Ok(_) => checks.push(ok("files", format!("{path} is readable by its owner only"))),
            Err(_) => {}
        }
    }
    let handed_over = dir.join(crate::serve::BOOTSTRAP_PASSWORD_FILE);
    if handed_over.exists() {
        checks.push(problem(
            "files",
            format!(
                "{} still holds the first administrator's password: sign in, choose your own, \
                 and delete it",
                handed_over.display()
            ),
        ));
    }
    checks
}
