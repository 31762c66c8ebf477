//! In-memory state of one deployment: users (with bcrypt hashes), channels and messages
//! (monolith only), and the per-user AI rate-limit windows. Each service instance owns its
//! own store, as separate deployments would. Pure data structures behind locks; no HTTP.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// A registered user.
#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: Option<String>,
    pub status: &'static str,
    pub profile_picture_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub password_hash: String,
}

#[derive(Debug, Clone)]
pub struct Channel {
    pub id: i64,
    pub name: String,
    pub members: Vec<i64>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Message {
    pub id: i64,
    pub channel_id: i64,
    pub user_id: i64,
    pub username: String,
    pub content: String,
    /// `message`, or `join` for the automatic "joined #general" notices.
    pub kind: &'static str,
    pub created_at: DateTime<Utc>,
}

/// The id of `#general`, created with every store.
pub const GENERAL: i64 = 1;

#[derive(Debug)]
pub struct Users {
    pub list: Vec<User>,
    by_name: HashMap<String, usize>,
    /// The id of the first user (1; the Auth service's own sequence starts elsewhere).
    first_id: i64,
}

impl Users {
    fn new(first_id: i64) -> Users {
        Users {
            list: Vec::new(),
            by_name: HashMap::new(),
            first_id,
        }
    }

    pub fn get(&self, id: i64) -> Option<&User> {
        id.checked_sub(self.first_id)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| self.list.get(i))
    }

    pub fn by_name(&self, username: &str) -> Option<&User> {
        self.by_name.get(username).and_then(|&i| self.list.get(i))
    }

    pub fn by_name_mut(&mut self, username: &str) -> Option<&mut User> {
        let i = *self.by_name.get(username)?;
        self.list.get_mut(i)
    }

    /// Insert a new user; `None` when the username is taken.
    pub fn insert(
        &mut self,
        username: &str,
        display_name: Option<String>,
        password_hash: String,
    ) -> Option<User> {
        if self.by_name.contains_key(username) {
            return None;
        }
        let user = User {
            id: i64::try_from(self.list.len())
                .unwrap_or(i64::MAX / 2)
                .saturating_add(self.first_id),
            username: username.to_string(),
            display_name,
            status: "offline",
            profile_picture_url: None,
            created_at: Utc::now(),
            password_hash,
        };
        self.by_name.insert(user.username.clone(), self.list.len());
        self.list.push(user.clone());
        Some(user)
    }
}

#[derive(Debug)]
pub struct Chat {
    pub channels: Vec<Channel>,
    pub messages: Vec<Message>,
}

impl Chat {
    fn new() -> Chat {
        Chat {
            channels: vec![Channel {
                id: GENERAL,
                name: "general".into(),
                members: Vec::new(),
                created_at: Utc::now(),
            }],
            messages: Vec::new(),
        }
    }

    pub fn channel(&self, id: i64) -> Option<&Channel> {
        self.channels.iter().find(|c| c.id == id)
    }

    pub fn post(
        &mut self,
        channel_id: i64,
        user: &User,
        content: String,
        kind: &'static str,
    ) -> Message {
        let msg = Message {
            id: i64::try_from(self.messages.len()).unwrap_or(i64::MAX - 1) + 1,
            channel_id,
            user_id: user.id,
            username: user.username.clone(),
            content,
            kind,
            created_at: Utc::now(),
        };
        self.messages.push(msg.clone());
        msg
    }

    /// Add `user` to `#general` and post the join notice.
    pub fn join_general(&mut self, user: &User) {
        if let Some(c) = self.channels.iter_mut().find(|c| c.id == GENERAL) {
            c.members.push(user.id);
        }
        self.post(
            GENERAL,
            user,
            format!("{} joined #general", user.username),
            "join",
        );
    }
}

/// One user's current rate-limit window.
#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    reset_at: DateTime<Utc>,
    used: u32,
}

/// The outcome of asking for one AI request.
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    /// Requests used before this one.
    pub used_before: u32,
    pub limit: u32,
    /// Whether the request fits in the limit.
    pub allowed: bool,
}

#[derive(Debug)]
pub struct RateLimiter {
    limit: u32,
    window: Duration,
    windows: Mutex<HashMap<String, Window>>,
}

impl RateLimiter {
    pub fn new(limit: u32, window: Duration) -> RateLimiter {
        RateLimiter {
            limit,
            window,
            windows: Mutex::new(HashMap::new()),
        }
    }

    fn current<'a>(&self, map: &'a mut HashMap<String, Window>, user: &str) -> &'a mut Window {
        let now = Instant::now();
        let window = self.window;
        let w = map.entry(user.to_lowercase()).or_insert_with(|| Window {
            started: now,
            reset_at: Utc::now() + window,
            used: 0,
        });
        if now.duration_since(w.started) >= window {
            *w = Window {
                started: now,
                reset_at: Utc::now() + window,
                used: 0,
            };
        }
        w
    }

    /// Count one request for `user` (when it fits, or always when `enforce` is false).
    pub fn acquire(&self, user: &str, enforce: bool) -> Slot {
        let mut map = lock(&self.windows);
        let limit = self.limit;
        let w = self.current(&mut map, user);
        let allowed = w.used < limit;
        let slot = Slot {
            used_before: w.used,
            limit,
            allowed,
        };
        if allowed || !enforce {
            w.used = w.used.saturating_add(1);
        }
        slot
    }

    /// Remaining requests and reset time for `user`, counting nothing.
    pub fn peek(&self, user: &str) -> (u32, DateTime<Utc>) {
        let mut map = lock(&self.windows);
        let limit = self.limit;
        let w = self.current(&mut map, user);
        (limit.saturating_sub(w.used), w.reset_at)
    }
}

/// Everything one deployment keeps.
#[derive(Debug)]
pub struct Store {
    users: RwLock<Users>,
    chat: Mutex<Chat>,
    pub rate: RateLimiter,
}

impl Store {
    /// A store whose user ids start at `first_id`.
    pub fn new(rate_limit: u32, rate_window: Duration, first_id: i64) -> Store {
        Store {
            users: RwLock::new(Users::new(first_id)),
            chat: Mutex::new(Chat::new()),
            rate: RateLimiter::new(rate_limit, rate_window),
        }
    }

    pub fn users(&self) -> RwLockReadGuard<'_, Users> {
        self.users.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn users_mut(&self) -> RwLockWriteGuard<'_, Users> {
        self.users.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn chat(&self) -> MutexGuard<'_, Chat> {
        lock(&self.chat)
    }
}

/// Lock a mutex, surviving poisoning (a panicked handler must not take the service down).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
