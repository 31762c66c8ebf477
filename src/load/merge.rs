//! Merging the partial results of `--worker i/N` runs into one (`cutover report --merge`,
//! `cutover load --merge`): parts of different configurations are refused, counts and
//! timelines are added bucket by bucket.

use super::collect::{
    Counts, LoadResult, MAX_WINDOWS, RESULT_FORMAT, SeriesFile, SeriesKey, Side, TimelineFile,
    new_histogram,
};

/// Why parts could not be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("nothing to merge")]
    Empty,
    #[error("{0}: not a load result (format `{1}`, expected `{RESULT_FORMAT}`)")]
    Format(String, String),
    #[error(
        "{0}: from a different configuration than {1} (config digest {2} vs {3}); only parts of one `cutover load --worker i/N` set merge"
    )]
    Config(String, String, String, String),
    #[error("{0}: worker {1}/{2} appears twice")]
    Duplicate(String, u32, u32),
}

/// Merge parts (with the names they came from, for messages) into one result.
pub fn merge(parts: &[(String, LoadResult)]) -> Result<LoadResult, MergeError> {
    let Some((first_name, first)) = parts.first() else {
        return Err(MergeError::Empty);
    };
    let mut seen = Vec::new();
    for (name, p) in parts {
        if p.format != RESULT_FORMAT {
            return Err(MergeError::Format(name.clone(), p.format.clone()));
        }
        if p.meta.config_digest != first.meta.config_digest || p.window_s != first.window_s {
            return Err(MergeError::Config(
                name.clone(),
                first_name.clone(),
                short(&p.meta.config_digest),
                short(&first.meta.config_digest),
            ));
        }
        if let Some((i, n)) = p.meta.worker {
            if seen.contains(&(i, n)) {
                return Err(MergeError::Duplicate(name.clone(), i, n));
            }
            seen.push((i, n));
        }
    }
    let mut series: Vec<(SeriesKey, Counts)> = Vec::new();
    let mut timeline: [Vec<Counts>; 2] = [Vec::new(), Vec::new()];
    for (_, p) in parts {
        for s in &p.series {
            match series.iter_mut().find(|(k, _)| *k == s.key) {
                Some((_, c)) => c.add_file(&s.counts),
                None => {
                    let mut c = Counts::default();
                    c.add_file(&s.counts);
                    series.push((s.key.clone(), c));
                }
            }
        }
        for t in &p.timeline {
            let line = &mut timeline[t.side as usize];
            for (i, w) in t.windows.iter().enumerate().take(MAX_WINDOWS as usize) {
                while line.len() <= i {
                    line.push(Counts {
                        latency: new_histogram(2),
                        ..Counts::default()
                    });
                }
                line[i].add_file(w);
            }
        }
    }
    let mut meta = first.meta.clone();
    meta.worker = None;
    meta.users = parts.iter().map(|(_, p)| p.meta.users).sum();
    meta.rate = parts
        .iter()
        .map(|(_, p)| p.meta.rate)
        .sum::<Option<usize>>();
    Ok(LoadResult {
        format: RESULT_FORMAT.into(),
        meta,
        window_s: first.window_s,
        duration_s: parts.iter().map(|(_, p)| p.duration_s).fold(0.0, f64::max),
        series: series
            .into_iter()
            .map(|(key, c)| SeriesFile {
                key,
                counts: c.to_file(),
            })
            .collect(),
        timeline: [Side::Baseline, Side::Candidate]
            .into_iter()
            .map(|side| TimelineFile {
                side,
                windows: timeline[side as usize]
                    .iter()
                    .map(Counts::to_file)
                    .collect(),
            })
            .collect(),
        not_sent: parts.iter().map(|(_, p)| p.not_sent).sum(),
    })
}

fn short(digest: &str) -> String {
    digest.chars().take(12).collect()
}
