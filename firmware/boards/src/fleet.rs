//! A federated-learning client on the device: one round of the fleet's local training
//! (`embedgrad_data::digits::fleet`), with its inputs and outputs in files on the host
//! (semihosting), and a power-safe checkpoint after every local epoch.
//!
//! A gateway (the Flower client app) starts QEMU in a job directory with semihosting enabled;
//! every path below is relative to QEMU's working directory. The contract:
//!
//! * **Inputs.** `job.txt`: one ASCII line `client clients round [cut_after_epoch]`
//!   (`3 10 7`, or `3 10 7 2`), numbers in decimal, `client < clients <= 65535`, `round` any
//!   `u32`, `cut_after_epoch` in `1..=5`. `global.safetensors`: the global model in PyTorch's
//!   layout (`0.weight` 32×64, `0.bias`, `2.weight` 10×32, `2.bias`; F32, as
//!   `Net::save_weights` and `embedgrad-sim fleet-client` write it), at most
//!   [`MAX_WEIGHTS`] bytes.
//! * **Training.** `fleet::Client` for `client` of `clients` runs the round of
//!   `fleet::LOCAL` (5 epochs of plain gradient descent at 0.03, mini-batches of 16, each
//!   epoch shuffled by a generator seeded from the round, the client and the epoch), the
//!   planned step in a static graph.
//! * **Outputs.** `local.safetensors` (the trained weights, the same layout, F32) and
//!   `summary.txt`, one line `rows=<n> steps=<n> loss=<f32> epochs=<from>..<to>`: the rows of
//!   the shard (FedAvg's weight), the optimizer steps and the mean loss per row of the whole
//!   round (each batch's loss before its update, as `fleet::Client::fit` reports it), and the
//!   half-open range of 0-based epochs that *this run* trained (`0..5` uninterrupted, `2..5`
//!   after a power cut after the second epoch). Exit status 0.
//! * **Checkpoints.** `flash.bin` ([`FLASH_LEN`] bytes) stands in for the device's flash: an
//!   `embedgrad_train::checkpoint::Store` with two slots of [`SLOT_LEN`] bytes over a
//!   [`FileFlash`] (NOR semantics: erase to `0xFF`, writes only clear bits, 4 KiB sectors).
//!   After each epoch the store saves the weights and the round's progress ([`Progress`]: the
//!   client, the fleet's size, the round, a hash of `global.safetensors`, the epochs done, the
//!   steps and the loss summed so far), committed last, so a power cut at any moment leaves
//!   the last good checkpoint. On start, a checkpoint of the same client, fleet, round and
//!   global model resumes after its last epoch; any other (another job, another firmware, a
//!   damaged one) is ignored: the round starts from `global.safetensors`. A resumed round
//!   computes exactly what an uninterrupted one does (an epoch depends only on the weights
//!   and on the seed, the round, the client and the epoch), so `local.safetensors` and
//!   `summary.txt` are the same bytes (but for `epochs=`).
//! * **Power cut.** With `cut_after_epoch = k`, the firmware stops right after checkpointing
//!   epoch `k` (1-based): log line `POWER CUT after epoch k`, exit status 3, no outputs.
//!   Running the same job again resumes and finishes. A job run again after it finished
//!   resumes after the last epoch, trains nothing and writes the same outputs
//!   (`epochs=5..5`).
//! * **Failures.** Exit status 1 and a `FAIL fleet_client: ...` line, after an `ERROR` line
//!   that names the file: `job.txt` (missing, or not a valid job line), `global.safetensors`
//!   (missing, too large, or not the digits model's weights: the reader's error),
//!   `flash.bin` (cannot be opened, read or written), or an output that cannot be written.
//!   (Exit 3 is also a fault's, with a `FAULT` line; 101 a panic's.)
//!
//! Cortex-M4F boards only, like `digits`: elsewhere the firmware logs `SKIP` and exits 0.

use crate::{exit_code, Bench, Example, Failure};
use core::ffi::CStr;
use core::ptr::addr_of_mut;
use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};
use embedgrad_core::{Error, Graph, Op, PlanOptions};
use embedgrad_data::digits::{self, fleet, BATCH};
use embedgrad_ops::prelude::*;
use embedgrad_train::checkpoint::{Fingerprint, RestoreError, Restored, Store};
use embedgrad_train::safetensors::Dtype;
use embedgrad_train::{fnv1a, Optimizer, FNV_OFFSET};
use semihosting::fs::File;
use semihosting::io::{Read, Seek, SeekFrom, Write};

/// The local round as the fleet defines it.
const LOCAL: fleet::Local = fleet::LOCAL;
// A checkpoint holds the weights and the place in the round only: right for plain steps,
// which keep no optimizer state.
const _: () = assert!(matches!(LOCAL.optimizer, fleet::LocalOptimizer::Sgd));

/// The largest `global.safetensors` read (the digits model in F32 is 9,952 bytes).
pub const MAX_WEIGHTS: usize = 16 * 1024;
/// Bytes of one checkpoint slot: three 4 KiB sectors (a record is 9,764 bytes).
pub const SLOT_LEN: u32 = 3 * 4096;
/// Bytes of `flash.bin`: two slots.
pub const FLASH_LEN: usize = 2 * SLOT_LEN as usize;

/// Why the fleet client does not run on this board.
#[cfg(any(board = "mps2-an386", board = "nrf52840"))]
const SKIP: Option<&str> = None;
#[cfg(not(any(board = "mps2-an386", board = "nrf52840")))]
const SKIP: Option<&str> = Some(
    "Cortex-M4F only, like digits: the graph, the client and the weight file need about \
     75 KB of RAM, and 50 steps of soft-float arithmetic take minutes in QEMU",
);

/// The `fleet_client` firmware.
pub const FLEET_CLIENT: Example = Example {
    name: "fleet_client",
    train: client,
    skip: SKIP,
    // The graph, the client and the file buffer are statics (in `.bss`).
    stack: 0,
    on_fault: None,
};

const NODES: usize = digits::NODES;
/// The planned step's exact need (the digits firmware's: the same network and batch, the
/// logits kept).
const SCALARS: usize = include!(concat!(env!("OUT_DIR"), "/digits_scalars.rs"));
type FleetGraph = StdGraph<f32, NODES, SCALARS>;

/// The graph, in `.bss`.
static mut GRAPH: FleetGraph = FleetGraph::empty();
/// The client (its shard, a batch's buffers), in `.bss`, set up in place.
static mut CLIENT: fleet::Client<f32, BATCH> = fleet::Client::empty();
/// `global.safetensors`, read whole (aligned, for in-place `f32` views).
static mut GLOBAL: Aligned<[u8; MAX_WEIGHTS]> = Aligned([0; MAX_WEIGHTS]);

#[repr(C, align(8))]
struct Aligned<B>(B);

/// One job line (`job.txt`), parsed by the data crate's [`Job::parse`] (fuzzed there).
pub use embedgrad_data::digits::fleet::Job;

/// The round's progress, kept in a checkpoint as the "optimizer state" of the record (plain
/// gradient descent has none of its own), so that it is saved and committed together with
/// the weights, under the record's CRC. Every field is an `f32` holding an exact integer
/// below 2²⁴ (the round and the hash split into 16-bit halves), but the summed loss.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    state: [f32; PROGRESS_LEN],
}

/// Scalars of [`Progress`].
pub const PROGRESS_LEN: usize = 9;
const CLIENT_AT: usize = 0;
const CLIENTS_AT: usize = 1;
const ROUND_HI: usize = 2;
const ROUND_LO: usize = 3;
const HASH_HI: usize = 4;
const HASH_LO: usize = 5;
const EPOCHS_AT: usize = 6;
const STEPS_AT: usize = 7;
const LOSS_AT: usize = 8;

impl Progress {
    /// The start of `job`'s round on the global model whose hash is `global`.
    pub fn start(job: &Job, global: u32) -> Self {
        let mut state = [0.0; PROGRESS_LEN];
        let half = |v: u32| (v & 0xFFFF) as f32;
        let pairs = [
            (CLIENT_AT, job.client as f32),
            (CLIENTS_AT, job.clients as f32),
            (ROUND_HI, half(job.round >> 16)),
            (ROUND_LO, half(job.round)),
            (HASH_HI, half(global >> 16)),
            (HASH_LO, half(global)),
        ];
        for (at, v) in pairs {
            if let Some(s) = state.get_mut(at) {
                *s = v;
            }
        }
        Progress { state }
    }

    fn at(&self, i: usize) -> f32 {
        self.state.get(i).copied().unwrap_or(f32::NAN)
    }

    fn set(&mut self, i: usize, v: f32) {
        if let Some(s) = self.state.get_mut(i) {
            *s = v;
        }
    }

    /// Whether it is the progress of `job`'s round on the same global model.
    pub fn same_round(&self, other: &Progress) -> bool {
        (CLIENT_AT..=HASH_LO).all(|i| self.at(i).to_bits() == other.at(i).to_bits())
    }

    /// Epochs done.
    pub fn epochs(&self) -> u32 {
        let e = self.at(EPOCHS_AT);
        if (0.0..=LOCAL.epochs as f32).contains(&e) {
            e as u32
        } else {
            u32::MAX
        }
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u32 {
        self.at(STEPS_AT) as u32
    }

    /// The loss summed so far.
    pub fn loss(&self) -> f32 {
        self.at(LOSS_AT)
    }

    /// Records an epoch done.
    pub fn advance(&mut self, epochs: u32, steps: u32, loss: f32) {
        self.set(EPOCHS_AT, epochs as f32);
        self.set(STEPS_AT, steps as f32);
        self.set(LOSS_AT, loss);
    }
}

impl Optimizer<f32> for Progress {
    /// Never trains: the record's optimizer slot only.
    fn apply<O: Op<f32>, const N: usize, const S: usize>(
        &mut self,
        _g: &mut Graph<f32, O, N, S>,
    ) -> Result<(), Error> {
        Err(Error::InvalidArgument)
    }

    fn state(&self) -> &[f32] {
        &self.state
    }

    fn state_mut(&mut self) -> &mut [f32] {
        &mut self.state
    }

    /// The kind and the local round's settings: a checkpoint of a firmware with another
    /// local round is refused.
    fn fingerprint(&self) -> u32 {
        Fingerprint::new(b"embedgrad-fleet-progress-v1")
            .u32(LOCAL.epochs)
            .scalar(LOCAL.learning_rate as f32)
            .u32(LOCAL.seed as u32)
            .u32((LOCAL.seed >> 32) as u32)
            .u32(BATCH as u32)
            .finish()
    }
}

/// A semihosting file as a NOR flash: reads as it is, erases to `0xFF` and writes that only
/// clear bits (each write reads the bytes first and ANDs), every operation straight through to
/// the host file, so that what a run saved is on the host's disk when it stops.
pub struct FileFlash {
    file: File,
}

/// A failed host file operation.
#[derive(Clone, Copy, Debug)]
pub struct FileFlashError(NorFlashErrorKind);

impl NorFlashError for FileFlashError {
    fn kind(&self) -> NorFlashErrorKind {
        self.0
    }
}

impl FileFlash {
    /// Opens `flash.bin` for reading and writing; when it is missing or not [`FLASH_LEN`]
    /// bytes long, creates it anew, erased (all `0xFF`).
    ///
    /// # Errors
    /// The host's, when the file can be neither opened nor created.
    pub fn open(path: &CStr) -> Result<(Self, bool), semihosting::io::Error> {
        if let Ok(file) = File::options().read(true).write(true).open(path) {
            if matches!(file.metadata().map(|m| m.len()), Ok(n) if n == FLASH_LEN as u64) {
                return Ok((FileFlash { file }, false));
            }
        }
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        let erased = [0xFFu8; 256];
        for _ in 0..FLASH_LEN / erased.len() {
            file.write_all(&erased)?;
        }
        Ok((FileFlash { file }, true))
    }

    fn check(&self, offset: u32, len: usize) -> Result<u64, FileFlashError> {
        let end = (offset as usize).checked_add(len);
        match end {
            Some(end) if end <= FLASH_LEN => Ok(u64::from(offset)),
            _ => Err(FileFlashError(NorFlashErrorKind::OutOfBounds)),
        }
    }

    fn read_at(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), FileFlashError> {
        let at = self.check(offset, bytes.len())?;
        let other = |_| FileFlashError(NorFlashErrorKind::Other);
        self.file.seek(SeekFrom::Start(at)).map_err(other)?;
        self.file.read_exact(bytes).map_err(other)
    }

    fn write_at(&mut self, offset: u32, bytes: &[u8]) -> Result<(), FileFlashError> {
        let at = self.check(offset, bytes.len())?;
        let other = |_| FileFlashError(NorFlashErrorKind::Other);
        self.file.seek(SeekFrom::Start(at)).map_err(other)?;
        self.file.write_all(bytes).map_err(other)
    }
}

impl ErrorType for FileFlash {
    type Error = FileFlashError;
}

impl ReadNorFlash for FileFlash {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        self.read_at(offset, bytes)
    }

    fn capacity(&self) -> usize {
        FLASH_LEN
    }
}

impl NorFlash for FileFlash {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = 4096;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        let aligned = |v: u32| (v as usize).is_multiple_of(Self::ERASE_SIZE);
        if !aligned(from) || !aligned(to) || to < from {
            return Err(FileFlashError(NorFlashErrorKind::NotAligned));
        }
        self.check(from, (to - from) as usize)?;
        let erased = [0xFFu8; 256];
        let mut at = from;
        while at < to {
            self.write_at(at, &erased)?;
            at += erased.len() as u32;
        }
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        let aligned = |v: usize| v.is_multiple_of(Self::WRITE_SIZE);
        if !aligned(offset as usize) || !aligned(bytes.len()) {
            return Err(FileFlashError(NorFlashErrorKind::NotAligned));
        }
        self.check(offset, bytes.len())?;
        let mut buf = [0u8; 64];
        let mut at = offset;
        for chunk in bytes.chunks(buf.len()) {
            let old = buf
                .get_mut(..chunk.len())
                .ok_or(FileFlashError(NorFlashErrorKind::Other))?;
            self.read_at(at, old)?;
            for (o, &n) in old.iter_mut().zip(chunk) {
                *o &= n; // NOR: programming clears bits, never sets them
            }
            self.write_at(at, old)?;
            at += chunk.len() as u32;
        }
        Ok(())
    }
}

/// Logs which file failed and why, and turns it into a failure.
fn file_error(what: &'static str, e: impl defmt::Format) -> Failure {
    defmt::error!("{=str}: {}", what, e);
    Failure::Check(what)
}

/// A semihosting I/O error, for the log.
struct Io(semihosting::io::Error);

impl defmt::Format for Io {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{}", defmt::Debug2Format(&self.0))
    }
}

/// Reads a whole file into `buf`; returns its length.
fn read_file<'b>(path: &CStr, buf: &'b mut [u8]) -> Result<&'b [u8], Result<Io, usize>> {
    let mut file = File::open(path).map_err(|e| Ok(Io(e)))?;
    let len = file.metadata().map_err(|e| Ok(Io(e)))?.len();
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    let Some(dst) = buf.get_mut(..len) else {
        return Err(Err(len));
    };
    file.read_exact(dst).map_err(|e| Ok(Io(e)))?;
    Ok(dst)
}

/// A file's read error, for the log.
struct ReadError(Result<Io, usize>, usize);

impl defmt::Format for ReadError {
    fn format(&self, f: defmt::Formatter<'_>) {
        match &self.0 {
            Ok(io) => defmt::write!(f, "cannot read it ({})", io),
            Err(len) => defmt::write!(f, "{=usize} bytes, more than {=usize}", len, self.1),
        }
    }
}

/// `core::fmt::Write` into a fixed buffer (the summary line).
struct Line {
    buf: [u8; 128],
    len: usize,
}

impl core::fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(core::fmt::Error)?;
        let dst = self.buf.get_mut(self.len..end).ok_or(core::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// The fleet client's run (see the module docs). Exits itself on success (0) and after a
/// power cut (3); returns the failure otherwise.
fn client(bench: &mut Bench) -> Result<crate::Outcome, Failure> {
    // 1. The job and the global model.
    let mut line = [0u8; 128];
    let job_line =
        read_file(c"job.txt", &mut line).map_err(|e| file_error("job.txt", ReadError(e, 128)))?;
    let job = Job::parse(job_line).map_err(|why| {
        defmt::error!("job.txt: bad job line: {}", why);
        Failure::Check("job.txt: bad job line")
    })?;
    defmt::info!("job: {}", job);

    // SAFETY: `client` runs once (the firmware's only example, called once by `run`), so these
    // are the only references to `GRAPH`, `CLIENT` and `GLOBAL` ever taken.
    let (g, c, global_buf) = unsafe {
        (
            &mut *addr_of_mut!(GRAPH),
            &mut *addr_of_mut!(CLIENT),
            &mut (*addr_of_mut!(GLOBAL)).0,
        )
    };
    let global = read_file(c"global.safetensors", global_buf)
        .map_err(|e| file_error("global.safetensors", ReadError(e, MAX_WEIGHTS)))?;
    let hash64 = fnv1a(FNV_OFFSET, global);
    let hash = (hash64 ^ (hash64 >> 32)) as u32;

    // 2. The client, its network in the static graph, the planned step.
    c.init(g, job.client as usize, job.clients as usize)?;
    let net = *c.net();
    net.load_weights(g, global).map_err(|e| {
        defmt::error!("global.safetensors: bad weights: {}", e);
        Failure::Check("global.safetensors: bad weights")
    })?;
    let keep = [net.logits.id()];
    let summary = g.plan(
        net.loss,
        PlanOptions {
            keep: &keep,
            ..PlanOptions::default()
        },
    )?;
    if summary.scalars != SCALARS {
        defmt::error!(
            "the plan needs {=usize} scalars, the firmware declares {=usize}",
            summary.scalars,
            SCALARS
        );
        return Err(Failure::Check("graph capacity is not exact"));
    }
    let rows = c.rows().len();
    defmt::println!(
        "METRIC batch={=usize} graph_bytes={=usize} rows={=usize} global_bytes={=usize}",
        BATCH,
        g.requirements().bytes,
        rows,
        global.len()
    );

    // 3. The flash and its checkpoint.
    let (flash, created) =
        FileFlash::open(c"flash.bin").map_err(|e| file_error("flash.bin: cannot open", Io(e)))?;
    if created {
        defmt::info!("flash.bin: new, erased ({=usize} bytes)", FLASH_LEN);
    }
    let mut store = Store::new(flash, 0, SLOT_LEN)?;
    let fresh = Progress::start(&job, hash);
    let mut p = fresh;
    let need = Store::<FileFlash>::bytes_needed(g, &p)?;
    if need > SLOT_LEN as usize {
        return Err(Failure::Check("a checkpoint does not fit in a slot"));
    }
    match store.restore(g, &mut p) {
        Ok(Restored::Checkpoint { info, .. }) if p.same_round(&fresh) && p.epochs() != u32::MAX => {
            defmt::println!(
                "RESUME round {=u32} of client {=u32} after epoch {=u32} (checkpoint {=u32})",
                job.round,
                job.client,
                p.epochs(),
                info.sequence
            );
        }
        Ok(Restored::Checkpoint { info, .. }) => {
            defmt::info!(
                "flash.bin: checkpoint {=u32} is of another job: ignored, fresh start",
                info.sequence
            );
            p = fresh;
            net.load_weights(g, global)
                .map_err(|_| Failure::Check("global.safetensors: bad weights"))?;
        }
        Ok(Restored::Empty) => {
            defmt::info!("flash.bin: no checkpoint, fresh start");
        }
        Err(RestoreError::Storage) => {
            defmt::error!(
                "flash.bin: cannot read: {}",
                defmt::Debug2Format(&store.last_flash_error())
            );
            return Err(Failure::Check("flash.bin: cannot read"));
        }
        Err(e) => {
            // Refused before anything changed (but after a failed copy, so reload).
            defmt::info!("flash.bin: {}: ignored, fresh start", e);
            p = fresh;
            net.load_weights(g, global)
                .map_err(|_| Failure::Check("global.safetensors: bad weights"))?;
        }
    }

    // 4. The round, epoch by epoch, a checkpoint after each.
    let from = p.epochs();
    c.begin_round(&LOCAL);
    let mut total = p.loss();
    let mut steps = p.steps();
    for e in from..LOCAL.epochs {
        let (loss, n) = bench.measure(|| c.epoch(g, job.round, e, &LOCAL))?;
        total += loss;
        steps += n;
        p.advance(e + 1, steps, total);
        let seq = bench.measure(|| store.save(g, &p)).map_err(|e| {
            defmt::error!("flash.bin: checkpoint failed: {}", e);
            Failure::Check("flash.bin: cannot write")
        })?;
        defmt::println!(
            "epoch {=u32}/{=u32}: {=u32} steps, summed loss {=f32}; checkpoint {=u32} saved",
            e + 1,
            LOCAL.epochs,
            n,
            loss,
            seq
        );
        if job.cut_after_epoch == Some(e + 1) {
            defmt::println!("POWER CUT after epoch {=u32} (checkpoint saved)", e + 1);
            crate::platform::exit(exit_code::FAULT)
        }
    }
    let measured = (LOCAL.epochs - from) * 2;
    defmt::println!("METRIC marks={=u32} epochs_from={=u32}", measured, from);

    // 5. The outputs.
    let seen = rows.saturating_mul(LOCAL.epochs as usize).max(1);
    let mean = total / seen as f32;
    let mut out = File::create(c"local.safetensors")
        .map_err(|e| file_error("local.safetensors: cannot create", Io(e)))?;
    let written = net
        .save_weights(g, Dtype::F32, |b| out.write_all(b).is_ok())
        .map_err(|e| {
            defmt::error!("local.safetensors: cannot write: {}", e);
            Failure::Check("local.safetensors: cannot write")
        })?;
    drop(out);
    let mut text = Line {
        buf: [0; 128],
        len: 0,
    };
    core::fmt::write(
        &mut text,
        format_args!(
            "rows={rows} steps={steps} loss={mean} epochs={from}..{}\n",
            LOCAL.epochs
        ),
    )
    .map_err(|_| Failure::Check("summary line too long"))?;
    let text = text.buf.get(..text.len).unwrap_or(&[]);
    File::create(c"summary.txt")
        .and_then(|mut f| f.write_all(text))
        .map_err(|e| file_error("summary.txt: cannot write", Io(e)))?;

    defmt::println!(
        "METRIC rows={=usize} steps={=u32} loss={=f32} epochs={=u32}..{=u32} local_bytes={=usize}",
        rows,
        steps,
        mean,
        from,
        LOCAL.epochs,
        written
    );
    defmt::println!(
        "METRIC stack_hwm_bytes={=u32}",
        crate::stack::high_water_mark()
    );
    defmt::println!("PASS fleet_client");
    crate::platform::exit(exit_code::SUCCESS)
}
