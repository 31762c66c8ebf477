//! Silencing Goose's one unconditional stdout line (`All N users launched.`): Goose prints
//! it with `println!` whatever `quiet` says, which would break `cutover load | jq`-style use
//! of our stdout. While an attack runs, file descriptor 1 points at `/dev/null`; the live
//! progress line is on stderr and is unaffected. Attacks may overlap (tests run them in
//! parallel): the first silencer saves the real stdout, the last one restores it.
//!
//! Owns nothing else; on non-Unix targets it does nothing.

use std::sync::Mutex;

/// (silencers alive, the saved stdout descriptor).
static STATE: Mutex<(usize, i32)> = Mutex::new((0, -1));

/// Stdout goes to `/dev/null` while this lives.
#[derive(Debug)]
pub struct Stdout {
    active: bool,
}

impl Stdout {
    /// Point stdout at `/dev/null` until the guard is dropped (best effort: on any error
    /// stdout stays as it was).
    pub fn silence() -> Stdout {
        Stdout { active: redirect() }
    }
}

impl Drop for Stdout {
    fn drop(&mut self) {
        if self.active {
            restore();
        }
    }
}

#[cfg(unix)]
fn redirect() -> bool {
    use std::io::Write as _;
    let Ok(mut state) = STATE.lock() else {
        return false;
    };
    if state.0 == 0 {
        let _ = std::io::stdout().flush();
        let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") else {
            return false;
        };
        // SAFETY: plain descriptor calls on descriptors this process owns; `null` stays
        // open until after `dup2`, and the saved copy is closed only in `restore`.
        let saved = unsafe { libc::dup(1) };
        if saved < 0 {
            return false;
        }
        // SAFETY: as above.
        if unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 1) } < 0 {
            // SAFETY: `saved` was returned by `dup` above and is closed once.
            unsafe { libc::close(saved) };
            return false;
        }
        state.1 = saved;
    }
    state.0 += 1;
    true
}

#[cfg(unix)]
fn restore() {
    use std::io::Write as _;
    let Ok(mut state) = STATE.lock() else {
        return;
    };
    state.0 = state.0.saturating_sub(1);
    if state.0 == 0 && state.1 >= 0 {
        let _ = std::io::stdout().flush();
        // SAFETY: `state.1` is the descriptor `redirect` saved; it is put back on 1 and
        // closed exactly once.
        unsafe {
            libc::dup2(state.1, 1);
            libc::close(state.1);
        }
        state.1 = -1;
    }
}

#[cfg(not(unix))]
fn redirect() -> bool {
    false
}

#[cfg(not(unix))]
fn restore() {}
