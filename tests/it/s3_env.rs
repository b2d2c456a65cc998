//! The S3 test server (moto's standalone server, `scripts/s3.sh`) and boto3, the independent
//! client that reads claim-check objects back. Settings come from the variables
//! `scripts/s3.sh env` exports (or its env file); a test that needs the server fails with
//! instructions when it is not there. [`OwnMoto`] is a private server on another port, for
//! tests that stop it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const HOW: &str = "start it with `scripts/s3.sh start` and load its settings with `eval \"$(scripts/s3.sh env)\"` (scripts/test does both)";

/// Where the S3 test server is and how to reach it.
#[derive(Debug, Clone)]
pub struct S3Env {
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
    /// The venv's python, with boto3.
    pub python: PathBuf,
    /// The venv's moto_server, for private instances.
    pub moto_server: PathBuf,
}

fn read_env_file() -> HashMap<String, String> {
    crate::support::script_env_file("S3_IT_DIR", "/tmp/tidb-changefeed-s3")
}

/// The shared S3 test server's settings; panics with instructions when it is not there or
/// does not answer.
pub fn s3() -> &'static S3Env {
    static ENV: OnceLock<S3Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let file = read_env_file();
        let get = |k: &str| -> String {
            std::env::var(k)
                .ok()
                .or_else(|| file.get(k).cloned())
                .unwrap_or_else(|| {
                    panic!("the S3 test server is not configured ({k} is unset): {HOW}")
                })
        };
        let env = S3Env {
            endpoint: get("S3_ENDPOINT"),
            access_key: get("S3_ACCESS_KEY"),
            secret_key: get("S3_SECRET_KEY"),
            region: get("S3_REGION"),
            python: get("S3_PYTHON").into(),
            moto_server: get("S3_MOTO_SERVER").into(),
        };
        wait_answering(&env.endpoint, Duration::from_secs(3)).unwrap_or_else(|e| {
            panic!(
                "the S3 test server at {} does not answer ({e}): {HOW}",
                env.endpoint
            )
        });
        env
    })
}

/// Waits until `endpoint` answers S3's ListBuckets (HTTP 200).
pub fn wait_answering(endpoint: &str, within: Duration) -> Result<(), String> {
    let deadline = Instant::now() + within;
    let addr = endpoint.trim_start_matches("http://").to_string();
    loop {
        let tried = (|| -> Result<(), String> {
            use std::io::{Read, Write};
            let sock: std::net::SocketAddr = addr.parse().map_err(|e| format!("{e}"))?;
            let mut s = std::net::TcpStream::connect_timeout(&sock, Duration::from_secs(1))
                .map_err(|e| e.to_string())?;
            s.set_read_timeout(Some(Duration::from_secs(2)))
                .map_err(|e| e.to_string())?;
            write!(s, "GET / HTTP/1.0\r\nHost: {addr}\r\n\r\n").map_err(|e| e.to_string())?;
            let mut head = [0u8; 12];
            s.read_exact(&mut head).map_err(|e| e.to_string())?;
            if head.starts_with(b"HTTP/1.1 200") || head.starts_with(b"HTTP/1.0 200") {
                Ok(())
            } else {
                Err(String::from_utf8_lossy(&head).into_owned())
            }
        })();
        match tried {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

impl S3Env {
    /// This environment with another endpoint (a private server).
    pub fn at(&self, endpoint: &str) -> S3Env {
        S3Env {
            endpoint: endpoint.to_string(),
            ..self.clone()
        }
    }

    /// Runs `script` with boto3's client as `s3` (and `sys`, `json`, `base64` imported);
    /// returns its standard output, panicking with its error output when it fails.
    pub fn boto3(&self, script: &str, args: &[&str]) -> String {
        let prelude = format!(
            "import sys, json, base64, boto3\ns3 = boto3.client('s3', endpoint_url={:?}, aws_access_key_id={:?}, aws_secret_access_key={:?}, region_name={:?})\n",
            self.endpoint, self.access_key, self.secret_key, self.region
        );
        let out = Command::new(&self.python)
            .arg("-c")
            .arg(format!("{prelude}{script}"))
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}: {HOW}", self.python.display()));
        assert!(
            out.status.success(),
            "boto3 script failed: {}\n{script}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Creates `bucket`.
    pub fn create_bucket(&self, bucket: &str) {
        self.boto3("s3.create_bucket(Bucket=sys.argv[1])", &[bucket]);
    }

    /// The bytes of `s3://bucket/key`, read with boto3.
    pub fn get_object(&self, bucket: &str, key: &str) -> Vec<u8> {
        let b64 = self.boto3(
            "print(base64.b64encode(s3.get_object(Bucket=sys.argv[1], Key=sys.argv[2])['Body'].read()).decode())",
            &[bucket, key],
        );
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64.trim())
            .expect("base64 from boto3")
    }

    /// The bytes of each of `keys` in `bucket`, read with boto3 in one run.
    pub fn get_objects(&self, bucket: &str, keys: &[&str]) -> HashMap<String, Vec<u8>> {
        let text = self.boto3(
            "out = {}\nfor k in json.loads(sys.argv[2]):\n    out[k] = base64.b64encode(s3.get_object(Bucket=sys.argv[1], Key=k)['Body'].read()).decode()\nprint(json.dumps(out))",
            &[bucket, &serde_json::to_string(keys).expect("keys JSON")],
        );
        let v: HashMap<String, String> = serde_json::from_str(text.trim()).expect("objects JSON");
        v.into_iter()
            .map(|(k, b64)| {
                let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64)
                    .expect("base64 from boto3");
                (k, bytes)
            })
            .collect()
    }

    /// Every object of `bucket`: key → (size, LastModified as Unix seconds).
    pub fn list_objects(&self, bucket: &str) -> HashMap<String, (u64, f64)> {
        let text = self.boto3(
            "out = {}\nfor page in s3.get_paginator('list_objects_v2').paginate(Bucket=sys.argv[1]):\n    for o in page.get('Contents', []):\n        out[o['Key']] = [o['Size'], o['LastModified'].timestamp()]\nprint(json.dumps(out))",
            &[bucket],
        );
        let v: HashMap<String, (u64, f64)> =
            serde_json::from_str(text.trim()).expect("listing JSON");
        v
    }
}

/// A private moto server on `port` (killed when dropped), for tests that stop it.
pub struct OwnMoto {
    child: Child,
    pub endpoint: String,
}

impl OwnMoto {
    /// Starts moto_server on 127.0.0.1:`port` and waits until it answers.
    pub fn start(port: u16) -> OwnMoto {
        let env = s3();
        let log = std::env::temp_dir().join(format!("tidb-changefeed-moto-{port}.log"));
        let log_file = std::fs::File::create(&log).expect("moto log");
        let child = Command::new(&env.moto_server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log"))
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}: {HOW}", env.moto_server.display()));
        let endpoint = format!("http://127.0.0.1:{port}");
        if let Err(e) = wait_answering(&endpoint, Duration::from_secs(60)) {
            panic!(
                "the private moto server on port {port} did not answer ({e}); log {}:\n{}",
                log.display(),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        OwnMoto { child, endpoint }
    }

    /// Sends `signal` (`STOP`, `CONT`) to the server.
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs")
            .success();
        assert!(ok, "kill -{signal} {}", self.child.id());
    }
}

impl Drop for OwnMoto {
    fn drop(&mut self) {
        // A stopped process must be continued to die of SIGKILL's clean-up promptly.
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
