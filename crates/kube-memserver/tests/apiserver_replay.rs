//! Replays the answers a real kube-apiserver v1.36 gave (tests/fixtures/apiserver-transcripts)
//! against the local API server: same status codes, same Status reason/details/causes,
//! same resulting objects and watch events, ignoring the volatile values the README lists.
//! Every exchange must replay except those in `known_differences()`, each with its reason.
#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/replay.rs"]
mod replay;
#[path = "support/replay_known.rs"]
mod replay_known;

use replay_known::{known_differences, needs_objects};

use serde_json::Value;
use std::time::Duration;

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/apiserver-transcripts"
);

/// Watches that must run to their end (bookmarks recorded) and are longer than this are
/// not replayed (a test does not wait 75 s).
const MAX_WATCH_SECONDS: u64 = 6;
/// How long a recorded poll is repeated until it answers as recorded.
const POLL_FOR: Duration = Duration::from_secs(5);

struct Outcome {
    replayed: usize,
    total: usize,
    failures: Vec<(usize, String)>,
}

/// How a recorded watch is read back: until the server ends it (when bookmarks were
/// recorded: their timing matters), or until as many events as recorded have arrived,
/// plus a short grace for unexpected extra ones.
#[derive(Clone, Copy)]
struct WatchRead {
    events: usize,
    to_the_end: bool,
    seconds: u64,
}

async fn send(
    http: &reqwest::Client,
    base: &str,
    mapper: &replay::Mapper,
    req: &Value,
    watch: WatchRead,
) -> (u16, Value, String) {
    let method = reqwest::Method::from_bytes(req["method"].as_str().unwrap().as_bytes()).unwrap();
    let path = mapper.path(req["path"].as_str().unwrap());
    let mut r = http.request(method, format!("{base}{path}"));
    if let Some(ct) = req["content_type"].as_str() {
        r = r.header("content-type", ct);
    }
    if let Some(a) = req["accept"].as_str() {
        r = r.header("accept", a);
    }
    r = r.header(
        "user-agent",
        req["user_agent"].as_str().unwrap_or("tx-recorder/1.0"),
    );
    match &req["body"] {
        Value::Null => {}
        Value::String(s) => r = r.body(s.clone()),
        v => r = r.body(serde_json::to_vec(&mapper.body(v)).unwrap()),
    }
    let resp = r.send().await.expect("request sent");
    let code = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if code == 200 && (req["watch"] == true || path.contains("watch=1")) {
        let mut events = Vec::new();
        let mut buf = Vec::new();
        let mut resp = resp;
        let mut deadline = tokio::time::Instant::now() + Duration::from_secs(watch.seconds + 2);
        loop {
            if !watch.to_the_end && events.len() >= watch.events {
                deadline = deadline.min(tokio::time::Instant::now() + Duration::from_millis(300));
            }
            let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(deadline, resp.chunk()).await else {
                break;
            };
            buf.extend_from_slice(&chunk);
            while let Some(i) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=i).collect();
                let event = serde_json::from_slice::<Value>(&line)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&line).into_owned()));
                events.push(serde_json::json!({"event": event}));
            }
        }
        return (code, Value::Array(events), ct);
    }
    let bytes = resp.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (code, body, ct)
}

/// Replays one scenario; `excused(i)`: exchange `i` is a known difference.
async fn run(file: &str, excused: impl Fn(usize) -> bool) -> Outcome {
    let entries: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(format!("{DIR}/{file}")).unwrap()).unwrap();
    let (server, _client) = cluster::start().await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let mut mapper = replay::Mapper::default();
    let mut out = Outcome {
        replayed: 0,
        total: 0,
        failures: vec![],
    };
    if file.starts_with("12-") {
        // Recorded on the cluster of scenario 07, whose Widget CRD it uses.
        let crd_scenario: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(format!("{DIR}/07-crd.json")).unwrap())
                .unwrap();
        let no_watch = WatchRead {
            events: 0,
            to_the_end: false,
            seconds: 0,
        };
        send(
            &http,
            &server.url(),
            &mapper,
            &crd_scenario[1]["request"],
            no_watch,
        )
        .await;
    }
    for (i, e) in entries.iter().enumerate() {
        if let Some(c) = e.get("comment") {
            if c.as_str().is_some_and(|c| c.contains("compact")) {
                server.compact();
            }
            continue;
        }
        out.total += 1;
        let req = &e["request"];
        let timeout = req["path"]
            .as_str()
            .unwrap()
            .split(['?', '&'])
            .find_map(|kv| kv.strip_prefix("timeoutSeconds="))
            .and_then(|t| t.parse::<u64>().ok());
        let recorded = e["response"]["body"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let watch = WatchRead {
            events: recorded.len(),
            to_the_end: recorded.iter().any(|ev| ev["event"]["type"] == "BOOKMARK"),
            seconds: timeout.unwrap_or(MAX_WATCH_SECONDS),
        };
        if watch.to_the_end && watch.seconds > MAX_WATCH_SECONDS {
            out.failures
                .push((i, "watch too long to replay in a test".into()));
            continue;
        }
        // The recorder polled where a controller (the garbage collector) acts on its own
        // time: so does the replay, for as long as a loaded machine may need (not for a
        // known difference, which would only wait).
        let polled = e["note"].as_str().is_some_and(|n| n.starts_with("poll")) && !excused(i);
        let deadline = std::time::Instant::now() + POLL_FOR;
        let want = &e["response"];
        let want_code = want["status"].as_u64().unwrap() as u16;
        let (code, actual, en, an) = loop {
            let (code, actual, _) = send(&http, &server.url(), &mapper, req, watch).await;
            let mut expected = want["body"].clone();
            replay::restrict_discovery(&mut expected, &actual);
            let (en, an) = (replay::normalize(&expected), replay::normalize(&actual));
            let same = code == want_code && en == an;
            if same || !polled || std::time::Instant::now() >= deadline {
                break (code, actual, en, an);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        // Names and uids are learned from the answer kept, not from a poll that came too
        // early (its lists pair recorded and actual items by position).
        mapper.learn(&want["body"], &actual);
        let text_equal =
            matches!((&en, &an), (Value::String(a), Value::String(b)) if a.trim() == b.trim());
        if code == want_code && (en == an || text_equal) {
            out.replayed += 1;
        } else {
            if std::env::var_os("REPLAY_DUMP").is_some() {
                std::fs::write(
                    format!("/tmp/replay-{}-{i}.json", file.trim_end_matches(".json")),
                    serde_json::to_string_pretty(&serde_json::json!([en, an])).unwrap(),
                )
                .unwrap();
            }
            let diff = format!(
                "status {code} (want {want_code})\n  want {}\n  got  {}",
                short(&en),
                short(&an)
            );
            out.failures.push((i, diff));
        }
    }
    server.shutdown().await;
    out
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 600 {
        format!("{}…", &s[..600])
    } else {
        s
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn transcripts_replay_against_the_local_api_server() {
    let (known, pending) = (known_differences(), needs_objects());
    let mut files: Vec<String> = std::fs::read_dir(DIR)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    files.sort();
    let (mut unexpected, mut now_replay) = (Vec::new(), Vec::new());
    let (mut all, mut ok) = (0, 0);
    for file in &files {
        let scenario = file.trim_end_matches(".json");
        let outcome = run(file, |i| {
            known.contains_key(&(scenario, i)) || pending.contains_key(&(scenario, i))
        })
        .await;
        println!("replay: {scenario} {}/{}", outcome.replayed, outcome.total);
        all += outcome.total;
        ok += outcome.replayed;
        let failed: Vec<usize> = outcome.failures.iter().map(|(i, _)| *i).collect();
        for (i, diff) in outcome.failures {
            let excuse = known.get(&(scenario, i)).or(pending.get(&(scenario, i)));
            if std::env::var_os("REPLAY_VERBOSE").is_some() {
                println!(
                    "differs: {scenario} #{i} ({}): {diff}",
                    excuse.unwrap_or(&"NOT EXCUSED")
                );
            }
            if excuse.is_none() {
                unexpected.push(format!("{scenario} #{i}: {diff}"));
            }
        }
        for (s, i) in known.keys().chain(pending.keys()) {
            if *s == scenario && !failed.contains(i) {
                now_replay.push(format!("{s} #{i}"));
            }
        }
    }
    println!("replay: total {ok}/{all}");
    if !now_replay.is_empty() {
        now_replay.sort();
        println!(
            "replay: these excused exchanges now replay identically; drop them from the lists: {now_replay:?}"
        );
    }
    assert!(
        unexpected.is_empty(),
        "exchanges that should replay but differ:\n{}",
        unexpected.join("\n")
    );
}
