//! What every test needs: a fresh database, the commands and the server run in the test's
//! process or as the binary, and a snapshot of the database to prove that a refused command
//! changed nothing.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use heliogate_store::testing::Backend;
use heliogate_store::testing::TestDatabase;
use heliogate_store::Store;
use serde_json::Value;

use crate::constants::PASSWORD;

/// Hands `test` a fresh app on `backend`: the runner of `for_each_backend!` here.
pub async fn on(backend: Backend, test: impl AsyncFnOnce(TestApp)) {
    test(TestApp::new(backend).await).await;
}

/// A fresh database, a working directory, and the commands and server pointed at both.
pub struct TestApp {
    pub backend: Backend,
    pub db: TestDatabase,
    pub dir: tempfile::TempDir,
}

/// What a command did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(&self) -> &Self {
        assert_eq!(self.code, 0, "command failed: {self:?}");
        self
    }

    pub fn json(&self) -> Value {
        self.ok();
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }

    /// Failed with one line on standard error that contains `needle`.
    pub fn refused(&self, needle: &str) -> &Self {
        assert_ne!(self.code, 0, "command should have failed: {self:?}");
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "expected one line of error: {:?}",
            self.stderr
        );
        assert!(
            lines[0].contains(needle),
            "error {:?} does not mention {needle:?}",
            lines[0]
        );
        self
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_heliogate")
}

impl TestApp {
    /// A fresh app on `backend`.
    pub async fn new(backend: Backend) -> Self {
        Self {
            backend,
            db: TestDatabase::new(backend).await,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// The binary as a command: in its own working directory, with only the settings given.
    pub fn command(&self) -> Command {
        self.settled(Command::new(binary()))
    }

    /// `command`, run on one CPU only (the first this test may use) by `taskset -c`.
    pub fn command_on_one_cpu(&self) -> Command {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let allowed = status
            .lines()
            .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
            .unwrap();
        let first = allowed.trim().split([',', '-']).next().unwrap();
        let mut cmd = Command::new("taskset");
        cmd.arg("-c").arg(first).arg(binary());
        self.settled(cmd)
    }

    /// `cmd` in this app's working directory, with only its settings.
    fn settled(&self, mut cmd: Command) -> Command {
        cmd.current_dir(self.dir.path());
        for (key, _) in std::env::vars() {
            if key.starts_with("HELIOGATE_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("HELIOGATE_DATABASE_URL", self.db.url())
            .env("HELIOGATE_LOG", "warn");
        cmd
    }

    /// Runs `heliogate ARGS…` with `stdin` as its input, inside the test's process: the
    /// command line parsed, checked and carried out as the binary does, on this app's
    /// database, with what it writes and its exit code.
    pub async fn run_with_input(&self, args: &[&str], stdin: &str) -> Run {
        let url = format!("--database-url={}", self.db.url());
        let first = ["heliogate", url.as_str()];
        let matches = match heliogate::cli::command().try_get_matches_from(first.iter().chain(args))
        {
            Ok(matches) => matches,
            Err(e) => {
                return Run {
                    code: e.exit_code(),
                    stdout: String::new(),
                    stderr: e.render().to_string(),
                }
            }
        };
        let mut output = Vec::new();
        let result = async {
            let cli = <heliogate::cli::Cli as clap::FromArgMatches>::from_arg_matches(&matches)?;
            let settings = heliogate::settings::Settings::load(
                cli.settings.clone(),
                &matches,
                cli.config.as_deref(),
            )?;
            let mut io = heliogate::Io {
                json: cli.json,
                input: &mut stdin.as_bytes(),
                output: &mut output,
                terminal: false,
            };
            heliogate::run(cli, settings, &mut io).await
        }
        .await;
        let (code, stderr) = match result {
            Ok(()) => (0, String::new()),
            Err(e) => (1, heliogate::error_line(&e) + "\n"),
        };
        Run {
            code,
            stdout: String::from_utf8(output).unwrap(),
            stderr,
        }
    }

    pub async fn run(&self, args: &[&str]) -> Run {
        self.run_with_input(args, "").await
    }

    /// Runs the binary, `heliogate ARGS…`, with `stdin` as standard input: for what the
    /// process itself does (exit codes, arguments from the environment, the terminal).
    pub fn run_process_with_input(&self, args: &[&str], stdin: &str) -> Run {
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A command refused before it reads its input closes the pipe: that is not an error.
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        child.wait_with_output().unwrap().into()
    }

    pub fn run_process(&self, args: &[&str]) -> Run {
        self.run_process_with_input(args, "")
    }

    /// `user add NAME --role ROLE…` with a good password.
    pub async fn add_user(&self, name: &str, roles: &[&str]) -> Value {
        let mut args = vec!["user", "add", name, "--password-stdin", "--json"];
        for role in roles {
            args.extend(["--role", role]);
        }
        self.run_with_input(&args, &format!("{PASSWORD}\n"))
            .await
            .json()
    }

    /// `audit list --event EVENT`: the records of an event (or a family, `user.*`), newest
    /// first.
    pub async fn audit(&self, event: &str) -> Value {
        self.run(&["audit", "list", "--event", event, "--json"])
            .await
            .json()
    }

    /// The store the binary writes to, opened beside it.
    pub async fn store(&self) -> Arc<dyn Store> {
        self.db.store().await
    }

    /// Everything an administrator can see, to compare before and after a refused command.
    pub async fn snapshot(&self) -> Value {
        let users = self.run(&["user", "list", "--json"]).await.json();
        let roles = self.run(&["role", "list", "--json"]).await.json();
        let clients = self.run(&["client", "list", "--json"]).await.json();
        serde_json::json!({ "users": users, "roles": roles, "clients": clients })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The server of `heliogate serve` on this app's database, with extra settings, run
    /// inside the test's process (on its own thread and runtime): what the binary serves,
    /// without starting it.
    pub async fn serve(&self, env: &[(&str, &str)]) -> Server {
        let mut variables = vec![("HELIOGATE_DATABASE_URL", self.db.url())];
        if !env.iter().any(|(k, _)| *k == "HELIOGATE_LISTEN") {
            variables.push(("HELIOGATE_LISTEN", "127.0.0.1:0"));
        }
        variables.extend_from_slice(env);
        let settings = heliogate::settings::Settings::for_serve(&variables)
            .unwrap_or_else(|e| panic!("settings refused: {e:#}"));
        Server::in_thread(settings, self.dir.path()).await
    }

    /// `heliogate serve` as a process on this app's database, with extra settings: for what
    /// needs one (signals, memory, logs).
    pub async fn serve_process(&self, env: &[(&str, &str)]) -> Server {
        let mut command = self.command();
        for (k, v) in env {
            command.env(k, v);
        }
        Server::start(command, self.dir.path()).await
    }
}

/// A port that was free a moment ago, for a process that cannot report the one it bound.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The address in the server's "heliogate is serving" log line.
fn listening_address(log: &str) -> Option<String> {
    let line = log.lines().find(|l| l.contains("heliogate is serving"))?;
    // A text line (`listen=ADDR`) or a JSON one (`"listen":"ADDR"`).
    if let Some((_, rest)) = line.split_once("\"listen\":\"") {
        return Some(rest.split('"').next()?.to_owned());
    }
    let rest = line.split_once("listen=")?.1;
    Some(rest.split_whitespace().next()?.to_owned())
}

/// A running server: a `heliogate serve` process, killed when dropped, or the same server on a
/// thread of the test's process, stopped when dropped.
pub struct Server {
    pub base: String,
    running: Running,
}

enum Running {
    Process {
        child: Child,
        stderr_path: PathBuf,
    },
    Thread {
        stop: Option<tokio::sync::oneshot::Sender<()>>,
    },
}

impl Server {
    /// Starts `serve` with `command`'s settings on a port the system picks (the server logs
    /// the address it bound), and waits until it answers.
    pub async fn start(mut command: Command, dir: &Path) -> Server {
        let stderr_path = tempfile::Builder::new()
            .prefix("serve-")
            .suffix(".log")
            .tempfile_in(dir)
            .unwrap()
            .into_temp_path()
            .keep()
            .unwrap();
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let child = command
            .arg("serve")
            .env("HELIOGATE_LISTEN", "127.0.0.1:0")
            .env("HELIOGATE_LOG", "info")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut server = Server {
            base: String::new(),
            running: Running::Process { child, stderr_path },
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = server.child().try_wait().unwrap() {
                panic!("serve exited with {status}: {}", server.stderr());
            }
            if server.base.is_empty() {
                if let Some(address) = listening_address(&server.stderr()) {
                    server.base = format!("http://{address}");
                }
            }
            if !server.base.is_empty()
                && reqwest::get(format!("{}/healthz", server.base))
                    .await
                    .is_ok()
            {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "serve did not answer: {}",
                server.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The server `serve` runs, prepared and served on a thread with its own runtime (the
    /// test's own blocking calls, such as a CLI command, never stall it).
    pub async fn in_thread(settings: heliogate::settings::Settings, dir: &Path) -> Server {
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let dir = dir.to_owned();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind(settings.listen)
                    .await
                    .unwrap();
                let ready = match heliogate::serve::prepare(settings, listener, &dir).await {
                    Ok(ready) => ready,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("{e:#}")));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(ready.address().unwrap()));
                let _ = ready
                    .serve(async move {
                        let _ = stopped.await;
                    })
                    .await;
            });
            runtime.shutdown_background();
        });
        let address = ready_rx
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("serve did not start: {e}"));
        Server {
            base: format!("http://{address}"),
            running: Running::Thread { stop: Some(stop) },
        }
    }

    fn child(&mut self) -> &mut Child {
        match &mut self.running {
            Running::Process { child, .. } => child,
            Running::Thread { .. } => panic!("a server in the test's process: use serve_process"),
        }
    }

    /// The process id of a `serve` process.
    pub fn pid(&mut self) -> u32 {
        self.child().id()
    }

    /// What a `serve` process logged so far.
    pub fn stderr(&self) -> String {
        match &self.running {
            Running::Process { stderr_path, .. } => {
                std::fs::read_to_string(stderr_path).unwrap_or_default()
            }
            Running::Thread { .. } => panic!("a server in the test's process: use serve_process"),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a signal by name (`TERM`, `INT`, `KILL`).
    pub fn signal(&mut self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit; its exit code.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child().try_wait().unwrap() {
                return status.code();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the server did not exit within {within:?}: {}",
            self.stderr()
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        match &mut self.running {
            Running::Process { child, .. } => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Running::Thread { stop } => {
                if let Some(stop) = stop.take() {
                    let _ = stop.send(());
                }
            }
        }
    }
}

/// A cookie-keeping HTTP client that does not follow redirects, as a browser seen step by step.
pub struct Browser {
    pub client: reqwest::Client,
    pub jar: Arc<reqwest::cookie::Jar>,
    pub base: String,
}

/// The value of `<input name="NAME" … value="…">` in a page.
pub fn form_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\""))?;
    let rest = &html[at..];
    let value = rest.find("value=\"")? + 7;
    let end = rest[value..].find('"')?;
    Some(rest[value..value + end].to_owned())
}

/// The `name` and raw `value` of every `<input type="hidden">` of a page, in order.
pub fn hidden_fields(html: &str) -> Vec<(String, String)> {
    html.split("<input type=\"hidden\"")
        .skip(1)
        .filter_map(|input| {
            let tag = &input[..input.find('>')?];
            let attr = |name: &str| {
                let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
                let end = tag[start..].find('"')?;
                Some(tag[start..start + end].to_owned())
            };
            Some((attr("name")?, attr("value")?))
        })
        .collect()
}

impl Browser {
    pub fn new(server: &Server) -> Browser {
        Self::with_headers(server, reqwest::header::HeaderMap::new())
    }

    /// A browser behind a proxy that sends `X-Forwarded-For: forwarded_for` on each request.
    pub fn forwarded(server: &Server, forwarded_for: &'static str) -> Browser {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            reqwest::header::HeaderValue::from_static(forwarded_for),
        );
        Self::with_headers(server, headers)
    }

    fn with_headers(server: &Server, headers: reqwest::header::HeaderMap) -> Browser {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Browser {
            client,
            jar,
            base: server.base.clone(),
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// The CSRF token of the form on the page at `path`.
    pub async fn csrf(&self, path: &str) -> String {
        let page = self.get(path).await.text().await.unwrap();
        form_value(&page, "csrf_token").unwrap_or_else(|| panic!("no CSRF token on {path}: {page}"))
    }

    /// Submits the sign-in form as a person would: load it, fill it, post it.
    pub async fn sign_in_to(&self, name: &str, password: &str, next: &str) -> reqwest::Response {
        let csrf = self.csrf("/login").await;
        self.post(
            "/login",
            &[
                ("username", name),
                ("password", password),
                ("csrf_token", &csrf),
                ("next", next),
            ],
        )
        .await
    }

    /// Signs out as a person does, with the account page's form; the answer's status.
    pub async fn sign_out(&self) -> u16 {
        let csrf = self.csrf("/").await;
        let answer = self.post("/logout", &[("csrf_token", &csrf)]).await;
        answer.status().as_u16()
    }

    pub async fn sign_in(&self, name: &str, password: &str) -> reqwest::Response {
        self.sign_in_to(name, password, "/").await
    }

    /// The session cookie's value, as the browser holds it.
    pub fn session_cookie(&self) -> Option<String> {
        let url = self.base.parse().unwrap();
        let cookies = reqwest::cookie::CookieStore::cookies(&*self.jar, &url)?;
        cookies
            .to_str()
            .unwrap()
            .split("; ")
            .find_map(|c| c.strip_prefix("heliogate_session="))
            .map(str::to_owned)
    }
}

/// The names of an audit page's records (`audit list --json`, `/api/v1/audit-events`), in
/// order.
pub fn event_names(log: &Value) -> Vec<&str> {
    log["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect()
}

/// The `Location` header of a redirect.
pub fn location(response: &reqwest::Response) -> &str {
    response
        .headers()
        .get("location")
        .map_or("", |v| v.to_str().unwrap())
}

/// A user name for the store's typed lookups.
pub fn user_name(name: &str) -> heliogate_core::UserName {
    heliogate_core::UserName::parse(name).expect("a valid user name")
}

/// A client id for the store's typed lookups.
pub fn client_id(id: &str) -> heliogate_core::ClientId {
    heliogate_core::ClientId::parse(id).expect("a valid client id")
}
