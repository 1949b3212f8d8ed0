//! `rls-harness fuzz --partition K/N`: the seeds of the jobs of a CI matrix.

/// The distance between the seeds of two fuzz partitions (2^64 / golden ratio, odd).
const PARTITION_STRIDE: u64 = 0x9e37_79b9_7f4a_7c15;

/// The seed of fuzz job `job` (1-based) of a run from `seed`. Each connection adds one
/// to its job's seed, so jobs a large odd stride apart never draw the same worlds; the
/// job's own seed replays it alone (`fuzz --seed`), and names its counterexample files.
pub fn partition_seed(seed: u64, job: u64) -> u64 {
    seed.wrapping_add((job - 1).wrapping_mul(PARTITION_STRIDE))
}

/// `K/N` with 1 ≤ K ≤ N.
pub fn parse_partition(text: &str) -> Result<(u64, u64), String> {
    let (job, jobs) = text
        .split_once('/')
        .ok_or_else(|| format!("\"{text}\" is not K/N (for example 2/4)"))?;
    let number = |part: &str| {
        part.trim()
            .parse::<u64>()
            .map_err(|_| format!("\"{part}\" in \"{text}\" is not a whole number"))
    };
    let (job, jobs) = (number(job)?, number(jobs)?);
    if job == 0 || job > jobs {
        return Err(format!("job {job} of {jobs}: K must be between 1 and N"));
    }
    Ok((job, jobs))
}
