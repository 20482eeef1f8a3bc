//! `docksock-monitor`: wires the probe, the pipeline and the sinks together.
//! Every stage lives in the library; this file only connects them.

use std::{
    fs::File,
    io::BufWriter,
    path::PathBuf,
    process::ExitCode,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use anyhow::{anyhow, Context as _};
use clap::Parser as _;
use docksock_monitor::{
    capture::{RecordReader, RecordWriter},
    cli::{CheckArgs, Cli, Command, OutputArgs, ReplayArgs, RunArgs},
    event::{measure_clock_offset, monotonic_ns},
    identity::{DockerResolver, ResolverConfig, StaticResolver},
    pipeline::{Pipeline, PipelineConfig},
    probe::{self, ring, watch::WatchedFile, Probe, ProbeConfig},
    sinks::{JsonSink, JsonSinkConfig, JsonTarget, Metrics, MetricsServer},
};
use log::{error, info, warn};

/// How often socket files are stat'ed again and counters exported.
const TICK: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    let cli = Cli::parse();
    env_logger::Builder::new()
        .parse_filters(&cli.log_level)
        .parse_env("RUST_LOG")
        .init();

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("docksock-monitor: starting the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run(args).await,
            Command::Check(args) => check(&args),
            Command::Replay(args) => replay(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("docksock-monitor: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// What the ring-buffer reader works on.
struct Live {
    pipeline: Pipeline,
    recorder: Option<RecordWriter<BufWriter<File>>>,
    json: Option<JsonSink>,
}

async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let sockets = args.sockets();
    let mut probe = Probe::load(&ProbeConfig {
        sockets: sockets.clone(),
        ring_buffer_bytes: args.ring_buffer_size,
    })?;
    let ring = probe.take_ring_buffer()?;
    if let Some(logger) = probe.take_logger() {
        tokio::spawn(async move {
            if let Err(err) = ring::forward_kernel_logs(logger).await {
                warn!("kernel program logs stopped: {err:#}");
            }
        });
    }

    let metrics = Arc::new(Metrics::new().context("creating the metrics registry")?);
    let metrics_addr = if args.no_metrics {
        None
    } else {
        let server = MetricsServer::bind(args.metrics_addr, Arc::clone(&metrics))
            .await
            .with_context(|| format!("serving metrics on {}", args.metrics_addr))?;
        let addr = server.local_addr()?;
        tokio::spawn(server.run());
        Some(addr)
    };

    let api_sockets = match (&args.docker_api, args.no_api_lookups) {
        (_, true) => Vec::new(),
        (Some(path), false) => vec![path.clone()],
        (None, false) => sockets.clone(),
    };
    let resolver = DockerResolver::new(
        ResolverConfig { docker_sockets: api_sockets.clone(), ..ResolverConfig::default() },
        tokio::runtime::Handle::current(),
    );
    let json = JsonSink::start(
        JsonSinkConfig::new(target(&args.output)),
        Arc::clone(&metrics),
        Some(resolver.clone()),
    )
    .await?;

    let recorder = match &args.record {
        Some(path) => Some(RecordWriter::create(path)?),
        None => None,
    };
    let mut pipeline = Pipeline::new(PipelineConfig {
        clock_offset_ns: measure_clock_offset().context("reading the clocks")?,
        ..PipelineConfig::default()
    });
    pipeline.set_watched(probe.watcher().files().to_vec());
    let live = Arc::new(Mutex::new(Live { pipeline, recorder, json: Some(json) }));

    summary(&probe, &args, metrics_addr, &api_sockets)?;

    let mut reader = {
        let live = Arc::clone(&live);
        let metrics = Arc::clone(&metrics);
        let resolver = resolver.clone();
        tokio::spawn(ring::drain_forever(ring, move |raw| {
            let mut live = live.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(recorder) = live.recorder.as_mut() {
                if let Err(err) = recorder.write_record(raw) {
                    error!("recording stopped: {err}");
                    live.recorder = None;
                }
            }
            let events = live.pipeline.push_raw(raw, &resolver);
            if let Some(json) = live.json.as_ref() {
                for event in events {
                    metrics.observe(&event);
                    json.send(event);
                }
            }
        }))
    };

    let mut tick = tokio::time::interval(TICK);
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            _ = tick.tick() => housekeeping(&mut probe, &live, &metrics, &resolver),
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
            ended = &mut reader => {
                match ended {
                    Ok(Err(err)) => error!("reading kernel records stopped: {err:#}"),
                    Ok(Ok(())) => error!("reading kernel records stopped"),
                    Err(err) => error!("the record reader failed: {err}"),
                }
                break;
            }
        }
    }
    info!("docksock stopping");
    reader.abort();
    let (json, recorder) = {
        let mut live = live.lock().unwrap_or_else(PoisonError::into_inner);
        (live.json.take(), live.recorder.take())
    };
    if let Some(mut recorder) = recorder {
        recorder.flush()?;
    }
    if let Some(json) = json {
        json.close().await;
    }
    Ok(ExitCode::SUCCESS)
}

/// Once a tick: follow socket files, export counters, forget idle connections.
fn housekeeping(
    probe: &mut Probe,
    live: &Mutex<Live>,
    metrics: &Metrics,
    resolver: &DockerResolver,
) {
    match probe.refresh_watched() {
        Ok(true) => {
            let files = probe.watcher().files().to_vec();
            info!("watched sockets changed: {}", describe(&files));
            live.lock().unwrap_or_else(PoisonError::into_inner).pipeline.set_watched(files);
        }
        Ok(false) => {}
        Err(err) => warn!("updating watched sockets: {err:#}"),
    }
    match probe.counters() {
        Ok(counters) => metrics.set_kernel_counters(counters),
        Err(err) => warn!("reading kernel counters: {err:#}"),
    }
    metrics.update_resolver(resolver.stats());

    let mut live = live.lock().unwrap_or_else(PoisonError::into_inner);
    match monotonic_ns() {
        Ok(now) => {
            let _ = live.pipeline.expire(now);
        }
        Err(err) => warn!("reading the monotonic clock: {err}"),
    }
    metrics.update_pipeline(live.pipeline.stats(), live.pipeline.connections());
    if let Some(recorder) = live.recorder.as_mut() {
        if let Err(err) = recorder.flush() {
            error!("recording stopped: {err}");
            live.recorder = None;
        }
    }
}

/// The one startup line operators read, with the marker tests wait for.
fn summary(
    probe: &Probe,
    args: &RunArgs,
    metrics: Option<std::net::SocketAddr>,
    api_sockets: &[PathBuf],
) -> anyhow::Result<()> {
    let kernel = probe::kernel_release()?;
    let files = probe.watcher().files();
    for (path, why) in probe.watcher().missing() {
        warn!("not watching {} yet: {why}; checking again every {}s", path.display(), TICK.as_secs());
    }
    let events = match &args.output.events {
        Some(path) => path.display().to_string(),
        None => "stdout".to_owned(),
    };
    let metrics = metrics.map_or("off".to_owned(), |addr| format!("http://{addr}/metrics"));
    let api = if api_sockets.is_empty() {
        "off".to_owned()
    } else {
        api_sockets.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    };
    info!(
        "docksock ready: kernel {kernel}, backend {}, watching {}, events to {events}, \
         metrics {metrics}, container lookups via {api}",
        probe::BACKEND,
        describe(files),
    );
    Ok(())
}

fn describe(files: &[WatchedFile]) -> String {
    if files.is_empty() {
        return "no socket yet".to_owned();
    }
    files
        .iter()
        .map(|f| format!("{} (dev {} inode {})", f.path.display(), f.dev, f.ino))
        .collect::<Vec<_>>()
        .join(", ")
}

fn target(output: &OutputArgs) -> JsonTarget {
    match &output.events {
        Some(path) => JsonTarget::File(path.clone()),
        None => JsonTarget::Stdout,
    }
}

fn check(_args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let lines = probe::check();
    let width = lines.iter().map(|l| l.what.len()).max().unwrap_or(0);
    for line in &lines {
        let mark = if line.ok { "yes" } else { "no " };
        println!("{:width$}  {mark}  {}", line.what, line.detail);
    }
    let usable = lines.iter().any(|l| l.what.starts_with("backend") && l.ok);
    if usable {
        println!("run would use backend {}", probe::BACKEND);
        Ok(ExitCode::SUCCESS)
    } else {
        println!("no backend works on this kernel: docksock cannot run here");
        Ok(ExitCode::FAILURE)
    }
}

async fn replay(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let watched = args
        .sockets
        .iter()
        .map(|spec| parse_socket_spec(spec))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let reader = RecordReader::open(&args.file)?;
    let metrics = Arc::new(Metrics::new().context("creating the metrics registry")?);
    let json = JsonSink::start(JsonSinkConfig::new(target(&args.output)), Arc::clone(&metrics), None)
        .await?;
    let resolver = StaticResolver::new();
    let mut pipeline = Pipeline::new(PipelineConfig::default());
    pipeline.set_watched(watched);

    let mut events = 0u64;
    let mut failure = None;
    for raw in reader {
        let raw = match raw {
            Ok(raw) => raw,
            Err(err) => {
                // A file cut short by a crash still gives what it holds.
                failure = Some(err);
                break;
            }
        };
        for event in pipeline.push_raw(&raw, &resolver) {
            events += 1;
            json.send(event);
        }
    }
    let _ = pipeline.expire(pipeline.last_ts_ns());
    json.close().await;
    if let Some(err) = failure {
        return Err(anyhow::Error::new(err).context(format!("replay stopped after {events} events")));
    }
    let stats = pipeline.stats();
    let bad: u64 = stats.bad_records.iter().sum();
    info!("replayed {} records from {}: {events} events, {bad} bad records", stats.records, args.file.display());
    Ok(ExitCode::SUCCESS)
}

/// `PATH=DEV:INODE` from the replay command line.
fn parse_socket_spec(spec: &str) -> anyhow::Result<WatchedFile> {
    let bad = || anyhow!("--socket {spec:?}: expected PATH=DEV:INODE, e.g. /var/run/docker.sock=26:1234");
    let (path, ids) = spec.split_once('=').ok_or_else(bad)?;
    let (dev, ino) = ids.split_once(':').ok_or_else(bad)?;
    Ok(WatchedFile {
        path: PathBuf::from(path),
        dev: dev.parse().map_err(|_| bad())?,
        ino: ino.parse().map_err(|_| bad())?,
    })
}
