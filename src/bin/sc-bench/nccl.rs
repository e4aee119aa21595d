//! Data-parallel training over NCCL (feature `nccl`): `train --devices
//! cuda:0,cuda:1,...` launches one `sc-bench train` process per GPU with
//! the same arguments plus `--device cuda:K --nccl-rank R --nccl-world W`
//! (hidden flags), the NCCL unique id in the environment variable
//! [`ID_VAR`]; each process joins the NCCL communicator and trains with
//! `sc_train::train_data_parallel`, its gradients summed by `ncclAllReduce`
//! on the stream candle computes on (the scheme of candle's multi-process
//! llama example and of PyTorch's DDP).

use crate::args::DeviceArg;
use anyhow::{bail, Context, Result};
use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::cudarc::nccl::result::NcclError;
use candle_core::cuda_backend::cudarc::nccl::safe::{Comm, Id, ReduceOp};
use candle_core::cuda_backend::CudaStorage;
use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Shape, Tensor};
use std::ffi::OsString;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The environment variable carrying the NCCL unique id (128 bytes, hex)
/// from the launcher to its processes.
pub const ID_VAR: &str = "SC_BENCH_NCCL_ID";

/// Launches one `sc-bench train` per device in `devices` and waits for all;
/// if one fails, the others are killed (they would wait for it in NCCL
/// forever) and the error names it.
pub fn launch(devices: &[DeviceArg]) -> Result<()> {
    let mut ordinals = Vec::new();
    for d in devices {
        match d {
            DeviceArg::Cuda(n) if !ordinals.contains(n) => ordinals.push(*n),
            DeviceArg::Cuda(n) => bail!("--devices: cuda:{n} is listed twice"),
            DeviceArg::Cpu => bail!("--devices: cpu: expected CUDA devices only (NCCL)"),
        }
    }
    let id = Id::new().map_err(|e| anyhow::anyhow!("--devices: NCCL unique id: {e:?}"))?;
    let hex: String = id
        .internal()
        .iter()
        .map(|b| format!("{:02x}", *b as u8))
        .collect();
    let exe = std::env::current_exe().context("--devices: locating sc-bench")?;
    let args = without_devices(std::env::args_os().skip(1));
    let world = ordinals.len();
    let mut children: Vec<(usize, Child)> = Vec::new();
    for (rank, ordinal) in ordinals.iter().enumerate() {
        let mut cmd = Command::new(&exe);
        cmd.args(&args)
            .args(["--device", &format!("cuda:{ordinal}")])
            .args(["--nccl-rank", &rank.to_string()])
            .args(["--nccl-world", &world.to_string()])
            .env(ID_VAR, &hex);
        if rank > 0 {
            cmd.stdout(Stdio::null());
        }
        match cmd.spawn() {
            Ok(child) => children.push((*ordinal, child)),
            Err(e) => {
                stop(&mut children);
                bail!("--devices: starting the process for cuda:{ordinal}: {e}");
            }
        }
    }
    let mut done = vec![false; children.len()];
    while done.iter().any(|d| !d) {
        let mut failure = None;
        for (i, (ordinal, child)) in children.iter_mut().enumerate() {
            if done[i] {
                continue;
            }
            if let Some(status) = child.try_wait()? {
                done[i] = true;
                if !status.success() {
                    failure = Some((i, *ordinal, status));
                    break;
                }
            }
        }
        if let Some((rank, ordinal, status)) = failure {
            stop(&mut children);
            bail!("--devices: the process of rank {rank} (cuda:{ordinal}) failed ({status}); the others were stopped");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// The command line without `--devices LIST` / `--devices=LIST`.
fn without_devices(args: impl Iterator<Item = OsString>) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut skip_next = false;
    for a in args {
        if skip_next {
            skip_next = false;
            continue;
        }
        if a == "--devices" {
            skip_next = true;
        } else if !a.to_string_lossy().starts_with("--devices=") {
            out.push(a);
        }
    }
    out
}

/// Kills the processes still running (each by its own handle) and reaps them.
fn stop(children: &mut [(usize, Child)]) {
    for (_, child) in children.iter_mut() {
        if let Ok(None) = child.try_wait() {
            let _ = child.kill();
        }
        let _ = child.wait();
    }
}

/// This process's member of the NCCL communicator.
pub struct Nccl {
    comm: Comm,
}

impl Nccl {
    /// Joins the communicator as `rank` of `world` on `device` (a CUDA
    /// device), with the id from [`ID_VAR`]. NCCL runs on the stream candle
    /// computes on, so the all-reduce is ordered after the backward pass.
    pub fn join(rank: usize, world: usize, device: &Device) -> Result<Nccl> {
        if rank >= world {
            bail!("--nccl-rank {rank}: expected below --nccl-world {world}");
        }
        let Device::Cuda(cuda) = device else {
            bail!("--nccl-rank: NCCL needs a CUDA --device");
        };
        let hex = std::env::var(ID_VAR)
            .with_context(|| format!("--nccl-rank: {ID_VAR} is not set (use --devices)"))?;
        let id = parse_id(&hex)?;
        let comm = Comm::from_rank(cuda.cuda_stream(), rank, world, id)
            .map_err(|e| anyhow::anyhow!("NCCL: joining as rank {rank} of {world}: {e:?}"))?;
        Ok(Nccl { comm })
    }
}

/// The 128-byte NCCL id from its hex form.
fn parse_id(hex: &str) -> Result<Id> {
    if hex.len() != 256 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("{ID_VAR}: expected 256 hex digits (a 128-byte NCCL id)");
    }
    let mut internal = [0 as std::ffi::c_char; 128];
    for (i, byte) in internal.iter_mut().enumerate() {
        let v = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)?;
        *byte = v as std::ffi::c_char;
    }
    Ok(Id::uninit(internal))
}

impl sc_train::Collective for Nccl {
    fn rank(&self) -> usize {
        self.comm.rank()
    }

    fn world(&self) -> usize {
        self.comm.world_size()
    }

    fn all_reduce_sum(&self, t: &Tensor) -> candle_core::Result<Tensor> {
        t.contiguous()?.apply_op1_no_bwd(&AllReduce(&self.comm))
    }
}

/// `ncclAllReduce(sum)` of a contiguous f32 or f64 CUDA tensor.
struct AllReduce<'a>(&'a Comm);

// SAFETY: candle requires custom ops to be Send + Sync; this one lives
// only for the `apply_op1_no_bwd` call on the thread that owns the
// communicator, which never shares it.
unsafe impl Send for AllReduce<'_> {}
unsafe impl Sync for AllReduce<'_> {}

impl CustomOp1 for AllReduce<'_> {
    fn name(&self) -> &'static str {
        "nccl-all-reduce-sum"
    }

    fn cpu_fwd(&self, _: &CpuStorage, _: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        candle_core::bail!("nccl-all-reduce-sum: CUDA tensors only")
    }

    fn cuda_fwd(&self, s: &CudaStorage, l: &Layout) -> candle_core::Result<(CudaStorage, Shape)> {
        let Some((start, end)) = l.contiguous_offsets() else {
            candle_core::bail!("nccl-all-reduce-sum: a non-contiguous tensor");
        };
        let dev = s.device().clone();
        let nccl = |e: NcclError| candle_core::Error::Msg(format!("NCCL all-reduce: {e:?}"));
        let out = match s.dtype() {
            DType::F32 => {
                let src = s.as_cuda_slice::<f32>()?.slice(start..end);
                let mut dst = dev.alloc_zeros::<f32>(end - start)?;
                self.0
                    .all_reduce(&src, &mut dst, &ReduceOp::Sum)
                    .map_err(nccl)?;
                CudaStorage::wrap_cuda_slice(dst, dev)
            }
            DType::F64 => {
                let src = s.as_cuda_slice::<f64>()?.slice(start..end);
                let mut dst = dev.alloc_zeros::<f64>(end - start)?;
                self.0
                    .all_reduce(&src, &mut dst, &ReduceOp::Sum)
                    .map_err(nccl)?;
                CudaStorage::wrap_cuda_slice(dst, dev)
            }
            dt => candle_core::bail!("nccl-all-reduce-sum: f32 or f64, got {dt:?}"),
        };
        Ok((out, l.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_launcher_drops_only_the_devices_flag() {
        let args = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            without_devices(
                args(&["train", "--devices", "cuda:0,cuda:1", "--run", "r"]).into_iter()
            ),
            args(&["train", "--run", "r"])
        );
        assert_eq!(
            without_devices(args(&["train", "--devices=cuda:0", "--json"]).into_iter()),
            args(&["train", "--json"])
        );
    }

    #[test]
    fn ids_round_trip_and_bad_ones_are_refused() {
        let hex: String = (0..128u32)
            .map(|i| format!("{:02x}", (i * 7) % 256))
            .collect();
        let id = parse_id(&hex).unwrap();
        let back: String = id
            .internal()
            .iter()
            .map(|b| format!("{:02x}", *b as u8))
            .collect();
        assert_eq!(back, hex);
        assert!(parse_id("abc")
            .unwrap_err()
            .to_string()
            .contains("256 hex digits"));
        assert!(parse_id(&"g".repeat(256)).is_err());
    }
}
