//! Durable storage of Durable-Object-style actors: one SQLite database per
//! actor ([`ActorStore`]) holding its key-value pairs, its own SQL tables,
//! the open savepoints of its transactions and its alarm; and the one
//! [`AlarmIndex`] per server listing every actor's pending alarm.
//!
//! A store is used synchronously from the one shard thread that owns the
//! actor. Values are opaque bytes (the caller serializes JS values). The
//! internal tables are named with the prefix `_rw_`; the actor's own SQL
//! ([`ActorStore::exec`]) runs under an authorizer that keeps it away from
//! them and from whatever would escape the API (ATTACH, transactions,
//! pragmas that write).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::fallible_iterator::FallibleIterator as _;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Batch, Connection, OpenFlags, OptionalExtension, StatementStatus, ToSql};

/// The longest key, in UTF-8 bytes (as in Durable Objects).
pub const MAX_KEY_BYTES: usize = 2048;

/// The largest value, in bytes (the limit of Durable Objects' SQLite
/// backend).
pub const MAX_VALUE_BYTES: usize = 2 * 1024 * 1024;

/// How long a connection waits for another connection's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Enough for the KV statements plus the shapes of `list` in use.
const STATEMENT_CACHE: usize = 64;

/// The prefix of every internal table; user SQL may not touch such names.
const INTERNAL_PREFIX: &str = "_rw_";

/// The `_rw_meta` key of the alarm.
const ALARM_KEY: &str = "alarm";

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS _rw_kv (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS _rw_meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
";

/// Pragmas user SQL may run with an argument: they only describe things.
const DESCRIBING_PRAGMAS: &[&str] = &[
    "table_info",
    "table_xinfo",
    "table_list",
    "index_info",
    "index_xinfo",
    "index_list",
    "foreign_key_list",
    "foreign_key_check",
    "integrity_check",
    "quick_check",
    "collation_list",
    "function_list",
    "module_list",
    "pragma_list",
    "compile_options",
];

/// Pragmas user SQL may run without a value, which reads the setting (with a
/// value, they would change it).
const SETTING_PRAGMAS: &[&str] = &[
    "application_id",
    "auto_vacuum",
    "automatic_index",
    "cache_size",
    "data_version",
    "defer_foreign_keys",
    "encoding",
    "foreign_keys",
    "freelist_count",
    "journal_mode",
    "legacy_alter_table",
    "max_page_count",
    "page_count",
    "page_size",
    "query_only",
    "recursive_triggers",
    "reverse_unordered_selects",
    "schema_version",
    "secure_delete",
    "synchronous",
    "user_version",
];

/// A value as SQLite stores it: the parameters and results of
/// [`ActorStore::exec`].
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// SQL `NULL`.
    Null,
    /// A 64-bit signed integer.
    Integer(i64),
    /// A 64-bit float (SQLite stores NaN as `NULL`).
    Real(f64),
    /// UTF-8 text (invalid UTF-8 read back from the database is replaced
    /// with U+FFFD).
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

impl From<ValueRef<'_>> for SqlValue {
    fn from(value: ValueRef<'_>) -> Self {
        match value {
            ValueRef::Null => Self::Null,
            ValueRef::Integer(i) => Self::Integer(i),
            ValueRef::Real(f) => Self::Real(f),
            ValueRef::Text(bytes) => Self::Text(String::from_utf8_lossy(bytes).into_owned()),
            ValueRef::Blob(bytes) => Self::Blob(bytes.to_vec()),
        }
    }
}

impl ToSql for SqlValue {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Self::Null => ValueRef::Null,
            Self::Integer(i) => ValueRef::Integer(*i),
            Self::Real(f) => ValueRef::Real(*f),
            Self::Text(s) => ValueRef::Text(s.as_bytes()),
            Self::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

/// What [`ActorStore::exec`] returns: the last statement's columns and
/// rows, and counters summed over all its statements.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SqlResult {
    /// The column names of the last statement (empty for statements that
    /// return nothing, such as `INSERT` without `RETURNING`).
    pub columns: Vec<String>,
    /// Every row of the last statement, each as wide as `columns`.
    pub rows: Vec<Vec<SqlValue>>,
    /// Rows read: for each statement, the rows it returned or, when more,
    /// the rows it went through in full-table scans (from
    /// `SQLITE_STMTSTATUS_FULLSCAN_STEP`). An estimate of the work done,
    /// not an exact count of B-tree rows visited (rows found through an
    /// index are not counted beyond the ones returned).
    pub rows_read: u64,
    /// Rows inserted, updated or deleted, triggers and foreign-key actions
    /// included (the growth of `sqlite3_total_changes`); schema changes
    /// count nothing.
    pub rows_written: u64,
}

/// Which keys [`ActorStore::list`] returns, in which order, and how many.
/// The bounds all apply together.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Only keys at or after this one.
    pub start: Option<String>,
    /// Only keys strictly after this one.
    pub start_after: Option<String>,
    /// Only keys strictly before this one.
    pub end: Option<String>,
    /// Only keys that start with this.
    pub prefix: Option<String>,
    /// Descending key order instead of ascending.
    pub reverse: bool,
    /// At most this many pairs (the first ones in the chosen order).
    pub limit: Option<usize>,
}

/// How hard a commit tries to reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// WAL with `synchronous=NORMAL`: a committed write survives the
    /// process being killed (`kill -9`), not necessarily power loss.
    Normal,
    /// WAL with `synchronous=FULL`: every commit is fsynced and survives
    /// power loss.
    Full,
}

/// Why a storage operation failed. The texts read as JS `Error` messages.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused or failed (bad SQL, missing table, constraint, I/O).
    #[error("SQL error: {0}")]
    Sql(#[from] rusqlite::Error),
    /// The database's directory could not be created.
    #[error("storage: cannot create directory {}: {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// A key is longer than [`MAX_KEY_BYTES`].
    #[error("storage: key is longer than {MAX_KEY_BYTES} bytes")]
    KeyTooLong {
        /// The key's length in bytes.
        len: usize,
    },
    /// A value is larger than [`MAX_VALUE_BYTES`].
    #[error("storage: value is larger than 2 MiB ({len} bytes)")]
    ValueTooLarge {
        /// The value's length in bytes.
        len: usize,
    },
    /// User SQL tried something the store does not allow (an internal table,
    /// ATTACH, a transaction statement, a pragma that writes); the text says
    /// what.
    #[error("{0}")]
    NotAllowed(String),
    /// [`ActorStore::exec`] got parameters for SQL with several statements.
    #[error("SQL error: parameters are only allowed when the SQL is exactly one statement")]
    ParamsNeedOneStatement,
    /// [`ActorStore::release`] or [`ActorStore::rollback`] without an open
    /// savepoint.
    #[error("storage: no transaction is open")]
    NoSavepoint,
}

/// One actor's database: its key-value pairs (`_rw_kv`), its own SQL
/// tables, its alarm (`_rw_meta`) and the stack of open savepoints.
///
/// ```no_run
/// use ringworker_io::storage::{ActorStore, Durability, ListOptions};
/// # fn main() -> Result<(), ringworker_io::storage::StoreError> {
/// let mut store = ActorStore::open("/var/lib/rw/counter/abc.sqlite".as_ref(), Durability::Normal)?;
/// store.savepoint()?;
/// store.put("count", b"1")?;
/// store.exec("CREATE TABLE IF NOT EXISTS log (at INTEGER, what TEXT)", &[])?;
/// store.release()?;
/// let all = store.list(&ListOptions { prefix: Some("co".into()), ..Default::default() })?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ActorStore {
    conn: Connection,
    policy: SharedPolicy,
    depth: usize,
}

impl ActorStore {
    /// Opens (creating it and its parent directories if needed) the database
    /// at `path` in WAL mode with the given durability and a 5 s busy
    /// timeout, and creates the internal tables if missing.
    pub fn open(path: &Path, durability: Durability) -> Result<Self, StoreError> {
        let conn = open_file(path, durability)?;
        Self::with_connection(conn)
    }

    /// Opens a private in-memory database (for tests and actors that keep
    /// nothing).
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::with_connection(Connection::open_in_memory()?)
    }

    fn with_connection(conn: Connection) -> Result<Self, StoreError> {
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        conn.execute_batch(SCHEMA)?;
        let policy = SharedPolicy::default();
        let hook_policy = policy.clone();
        // Installed once and switched on only during `exec`: (re)installing
        // it would expire every cached statement.
        conn.authorizer(Some(move |ctx: AuthContext<'_>| hook_policy.judge(&ctx)))?;
        Ok(Self {
            conn,
            policy,
            depth: 0,
        })
    }

    /// The value stored under `key`, if any.
    pub fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        check_key(key)?;
        get_value(&self.conn, key)
    }

    /// The pairs of those `keys` that exist, in the order of `keys`.
    pub fn get_many(&mut self, keys: &[String]) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        keys.iter().try_for_each(|key| check_key(key))?;
        let mut found = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(value) = get_value(&self.conn, key)? {
                found.push((key.clone(), value));
            }
        }
        Ok(found)
    }

    /// Stores `value` under `key`, replacing any previous value.
    pub fn put(&mut self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        check_key(key)?;
        check_value(value)?;
        put_value(&self.conn, key, value)
    }

    /// Stores every pair, all or none (every key and value is checked before
    /// anything is written).
    pub fn put_many(&mut self, entries: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        for (key, value) in entries {
            check_key(key)?;
            check_value(value)?;
        }
        atomically(&self.conn, |conn| {
            entries
                .iter()
                .try_for_each(|(key, value)| put_value(conn, key, value))
        })
    }

    /// Deletes `key`; whether it existed.
    pub fn delete(&mut self, key: &str) -> Result<bool, StoreError> {
        check_key(key)?;
        Ok(delete_key(&self.conn, key)?)
    }

    /// Deletes every one of `keys`, all or none; how many existed.
    pub fn delete_many(&mut self, keys: &[String]) -> Result<usize, StoreError> {
        keys.iter().try_for_each(|key| check_key(key))?;
        atomically(&self.conn, |conn| {
            let mut existed = 0;
            for key in keys {
                existed += usize::from(delete_key(conn, key)?);
            }
            Ok(existed)
        })
    }

    /// Applies what a transaction wrote, all or none: `puts`, then
    /// `deletes`, then the alarm (`Some(at)`: set, or clear with
    /// `Some(None)`; `None`: left as it is). Every key and value is checked
    /// before anything is written.
    pub fn commit(
        &mut self,
        puts: &[(String, Vec<u8>)],
        deletes: &[String],
        alarm: Option<Option<i64>>,
    ) -> Result<(), StoreError> {
        for (key, value) in puts {
            check_key(key)?;
            check_value(value)?;
        }
        deletes.iter().try_for_each(|key| check_key(key))?;
        atomically(&self.conn, |conn| {
            for (key, value) in puts {
                put_value(conn, key, value)?;
            }
            for key in deletes {
                delete_key(conn, key)?;
            }
            if let Some(at) = alarm {
                set_alarm_in(conn, at)?;
            }
            Ok(())
        })
    }

    /// The pairs within the bounds of `opts`, in key order (UTF-8 byte
    /// order), descending if `opts.reverse`, at most `opts.limit` of them.
    pub fn list(&mut self, opts: &ListOptions) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let successor = opts.prefix.as_deref().and_then(prefix_successor);
        let bounds: Vec<(&str, &str)> = [
            (">=", opts.start.as_deref()),
            (">", opts.start_after.as_deref()),
            ("<", opts.end.as_deref()),
            (">=", opts.prefix.as_deref()),
            ("<", successor.as_deref()),
        ]
        .into_iter()
        .filter_map(|(op, value)| Some((op, value?)))
        .collect();
        // Writing to a String cannot fail.
        let mut sql = String::from("SELECT key, value FROM _rw_kv WHERE 1");
        for (i, (op, _)) in bounds.iter().enumerate() {
            let _ = write!(sql, " AND key {op} ?{}", i + 1);
        }
        let order = if opts.reverse { "DESC" } else { "ASC" };
        let limit = opts
            .limit
            .map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
        let _ = write!(sql, " ORDER BY key {order} LIMIT {limit}");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(
            rusqlite::params_from_iter(bounds.iter().map(|(_, v)| v)),
            |row| Ok((row.get::<_, String>(0)?, row.get::<_, Vec<u8>>(1)?)),
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Deletes every key-value pair and every table, index, view and trigger
    /// the actor's SQL created, in one step; the alarm stays.
    pub fn delete_all(&mut self) -> Result<(), StoreError> {
        atomically(&self.conn, |conn| {
            conn.prepare_cached("DELETE FROM _rw_kv")?.execute([])?;
            // Foreign keys are on (the bundled SQLite's default): dropping a
            // parent table before its children would violate them until the
            // children are gone too, so check them at the end instead.
            let deferred: bool =
                conn.query_row("PRAGMA defer_foreign_keys", [], |row| row.get(0))?;
            conn.execute_batch("PRAGMA defer_foreign_keys = ON")?;
            for schema in ["main", "temp"] {
                // Virtual tables first: dropping one drops its shadow tables,
                // which may not be dropped on their own.
                let list = format!(
                    "SELECT type, name FROM {schema}.sqlite_schema
                     WHERE type IN ('table', 'view', 'trigger')
                       AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
                       AND name NOT LIKE '\\_rw\\_%' ESCAPE '\\'
                     ORDER BY sql LIKE 'CREATE VIRTUAL TABLE%' DESC, type = 'table'"
                );
                let objects = conn
                    .prepare(&list)?
                    .query_map([], |row| {
                        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                for (kind, name) in objects {
                    let kind = kind.to_ascii_uppercase();
                    let name = name.replace('"', "\"\"");
                    conn.execute_batch(&format!("DROP {kind} IF EXISTS {schema}.\"{name}\""))?;
                }
            }
            if !deferred {
                conn.execute_batch("PRAGMA defer_foreign_keys = OFF")?;
            }
            Ok(())
        })
    }

    /// Runs the actor's SQL: one or more statements separated by `;`, in
    /// order and all or none (a failing statement undoes the ones before
    /// it). `params` bind the `?`/`?NNN` parameters and are only allowed when
    /// there is exactly one statement. Returns the last statement's columns
    /// and rows and the counters of all of them (see [`SqlResult`]).
    ///
    /// The SQL may not touch the internal `_rw_` tables, ATTACH or DETACH a
    /// database, use a transaction statement (BEGIN, COMMIT, ROLLBACK,
    /// SAVEPOINT, RELEASE: transactions go through [`Self::savepoint`]) or a
    /// pragma that changes a setting; describing pragmas such as
    /// `table_info` and reading settings such as `PRAGMA user_version` are
    /// allowed.
    pub fn exec(&mut self, sql: &str, params: &[SqlValue]) -> Result<SqlResult, StoreError> {
        let policy = &self.policy;
        atomically(&self.conn, |conn| {
            let _gate = policy.open_gate();
            run_user_sql(conn, sql, params).map_err(|err| match policy.take_refusal() {
                Some(refusal) => StoreError::NotAllowed(refusal),
                None => err,
            })
        })
    }

    /// Opens a transaction, nested in the open ones if any: `SAVEPOINT rw_N`
    /// where N is the new [`Self::depth`].
    pub fn savepoint(&mut self) -> Result<(), StoreError> {
        let next = self.depth + 1;
        self.conn.execute_batch(&format!("SAVEPOINT rw_{next}"))?;
        self.depth = next;
        Ok(())
    }

    /// Commits the innermost transaction into its parent (or to the
    /// database, for the outermost).
    pub fn release(&mut self) -> Result<(), StoreError> {
        let depth = self.open_depth()?;
        self.conn.execute_batch(&format!("RELEASE rw_{depth}"))?;
        self.depth -= 1;
        Ok(())
    }

    /// Undoes and closes the innermost transaction.
    pub fn rollback(&mut self) -> Result<(), StoreError> {
        let depth = self.open_depth()?;
        self.conn
            .execute_batch(&format!("ROLLBACK TO rw_{depth}; RELEASE rw_{depth}"))?;
        self.depth -= 1;
        Ok(())
    }

    /// How many transactions are open (0: every write commits at once).
    pub fn depth(&self) -> usize {
        self.depth
    }

    fn open_depth(&self) -> Result<usize, StoreError> {
        match self.depth {
            0 => Err(StoreError::NoSavepoint),
            depth => Ok(depth),
        }
    }

    /// The pending alarm, in milliseconds since the Unix epoch.
    pub fn alarm(&mut self) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT value FROM _rw_meta WHERE key = ?1")?
            .query_row([ALARM_KEY], |row| row.get(0))
            .optional()?)
    }

    /// Sets the alarm to `at` (milliseconds since the Unix epoch), or clears
    /// it with `None`.
    pub fn set_alarm(&mut self, at: Option<i64>) -> Result<(), StoreError> {
        set_alarm_in(&self.conn, at)
    }

    /// The database's size: page count times page size.
    pub fn size_bytes(&mut self) -> Result<u64, StoreError> {
        let size: i64 = self
            .conn
            .prepare_cached(
                "SELECT page_count * page_size FROM pragma_page_count, pragma_page_size",
            )?
            .query_row([], |row| row.get(0))?;
        Ok(u64::try_from(size).unwrap_or(0))
    }
}

/// Where every actor's pending alarm is listed, so a restarted server knows
/// which actors to wake without opening every database. One file
/// (`DIR/alarms.sqlite`) opened by every shard with its own connection
/// (WAL, busy_timeout 5 s).
#[derive(Debug)]
pub struct AlarmIndex {
    conn: Connection,
}

impl AlarmIndex {
    /// Opens (creating it and its parent directories if needed) the index at
    /// `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = open_file(path, Durability::Normal)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS alarms (
                 namespace TEXT NOT NULL,
                 id TEXT NOT NULL,
                 at INTEGER NOT NULL,
                 PRIMARY KEY (namespace, id)
             ) WITHOUT ROWID;
             CREATE INDEX IF NOT EXISTS alarms_by_at ON alarms (at);",
        )?;
        Ok(Self { conn })
    }

    /// Records that actor `id` of `namespace` has an alarm at `at`
    /// (milliseconds since the Unix epoch), or none with `None`.
    pub fn set(&mut self, namespace: &str, id: &str, at: Option<i64>) -> Result<(), StoreError> {
        match at {
            Some(at) => self
                .conn
                .prepare_cached(
                    "INSERT INTO alarms (namespace, id, at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (namespace, id) DO UPDATE SET at = excluded.at",
                )?
                .execute(rusqlite::params![namespace, id, at])?,
            None => self
                .conn
                .prepare_cached("DELETE FROM alarms WHERE namespace = ?1 AND id = ?2")?
                .execute([namespace, id])?,
        };
        Ok(())
    }

    /// Every pending alarm as `(namespace, id, at)`, soonest first.
    pub fn all(&mut self) -> Result<Vec<(String, String, i64)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT namespace, id, at FROM alarms ORDER BY at, namespace, id")?;
        let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// Opens a database file in WAL mode with a busy timeout.
fn open_file(path: &Path, durability: Durability) -> Result<Connection, StoreError> {
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(path = %path.display(), mode, "SQLite refused WAL mode");
    }
    let synchronous = match durability {
        Durability::Normal => "NORMAL",
        Durability::Full => "FULL",
    };
    conn.execute_batch(&format!("PRAGMA synchronous = {synchronous}"))?;
    Ok(conn)
}

/// Runs `op` inside an internal savepoint (nested in any open transaction):
/// all of its writes or none.
fn atomically<T>(
    conn: &Connection,
    op: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    conn.prepare_cached("SAVEPOINT _rw_op")?.execute([])?;
    match op(conn) {
        Ok(value) => {
            conn.prepare_cached("RELEASE _rw_op")?.execute([])?;
            Ok(value)
        }
        Err(err) => {
            if let Err(undo) = conn.execute_batch("ROLLBACK TO _rw_op; RELEASE _rw_op") {
                tracing::error!(error = %undo, "cannot roll back a failed storage operation");
            }
            Err(err)
        }
    }
}

fn set_alarm_in(conn: &Connection, at: Option<i64>) -> Result<(), StoreError> {
    match at {
        Some(at) => conn
            .prepare_cached("INSERT OR REPLACE INTO _rw_meta (key, value) VALUES (?1, ?2)")?
            .execute(rusqlite::params![ALARM_KEY, at])?,
        None => conn
            .prepare_cached("DELETE FROM _rw_meta WHERE key = ?1")?
            .execute([ALARM_KEY])?,
    };
    Ok(())
}

fn check_key(key: &str) -> Result<(), StoreError> {
    match key.len() {
        len if len > MAX_KEY_BYTES => Err(StoreError::KeyTooLong { len }),
        _ => Ok(()),
    }
}

fn check_value(value: &[u8]) -> Result<(), StoreError> {
    match value.len() {
        len if len > MAX_VALUE_BYTES => Err(StoreError::ValueTooLarge { len }),
        _ => Ok(()),
    }
}

fn get_value(conn: &Connection, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT value FROM _rw_kv WHERE key = ?1")?
        .query_row([key], |row| row.get(0))
        .optional()?)
}

fn put_value(conn: &Connection, key: &str, value: &[u8]) -> Result<(), StoreError> {
    conn.prepare_cached("INSERT OR REPLACE INTO _rw_kv (key, value) VALUES (?1, ?2)")?
        .execute(rusqlite::params![key, value])?;
    Ok(())
}

fn delete_key(conn: &Connection, key: &str) -> rusqlite::Result<bool> {
    let deleted = conn
        .prepare_cached("DELETE FROM _rw_kv WHERE key = ?1")?
        .execute([key])?;
    Ok(deleted > 0)
}

/// The smallest string greater than every string that starts with `prefix`
/// (UTF-8 byte order is code point order, so: the last character that can
/// be incremented, incremented, with what follows it dropped); `None` when
/// there is none (no upper bound).
fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            c => char::from_u32(u32::from(c) + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// The statements of `sql` one by one (each prepared after the previous one
/// ran, so a later one may use a table an earlier one created).
fn run_user_sql(
    conn: &Connection,
    sql: &str,
    params: &[SqlValue],
) -> Result<SqlResult, StoreError> {
    let mut result = SqlResult::default();
    let mut batch = Batch::new(conn, sql);
    if !params.is_empty() {
        // Anything after the first statement, even one that cannot be
        // prepared yet, makes a second one.
        let first = batch.next()?.ok_or(StoreError::ParamsNeedOneStatement)?;
        if !matches!(batch.next(), Ok(None)) {
            return Err(StoreError::ParamsNeedOneStatement);
        }
        run_statement(conn, first, params, &mut result)?;
        return Ok(result);
    }
    while let Some(stmt) = batch.next()? {
        run_statement(conn, stmt, &[], &mut result)?;
    }
    Ok(result)
}

/// Runs one statement to completion; its columns and rows replace those in
/// `result`, its counters add to them.
fn run_statement(
    conn: &Connection,
    mut stmt: rusqlite::Statement<'_>,
    params: &[SqlValue],
    result: &mut SqlResult,
) -> Result<(), StoreError> {
    let changes_before = conn.total_changes();
    let columns: Vec<String> = stmt.column_names().into_iter().map(String::from).collect();
    let mut rows = Vec::new();
    let mut cursor = stmt.query(rusqlite::params_from_iter(params))?;
    while let Some(row) = cursor.next()? {
        let values = (0..columns.len())
            .map(|i| row.get_ref(i).map(SqlValue::from))
            .collect::<Result<Vec<_>, _>>()?;
        rows.push(values);
    }
    drop(cursor);
    // FULLSCAN_STEP counts the steps from one row of a scan to the next.
    let steps = u64::try_from(stmt.get_status(StatementStatus::FullscanStep)).unwrap_or(0);
    let scanned = if steps > 0 { steps + 1 } else { 0 };
    result.rows_read += scanned.max(rows.len() as u64);
    result.rows_written += conn.total_changes().saturating_sub(changes_before);
    result.columns = columns;
    result.rows = rows;
    Ok(())
}

/// The authorizer's state, shared with the hook (which must be `Send +
/// 'static`; it only ever runs on the store's thread).
#[derive(Debug, Clone, Default)]
struct SharedPolicy(Arc<Mutex<Policy>>);

#[derive(Debug, Default)]
struct Policy {
    /// User SQL is being prepared: judge every action.
    judging: bool,
    /// The first refusal since the gate opened, for the error message
    /// (SQLite itself only says "not authorized").
    refusal: Option<String>,
}

impl SharedPolicy {
    fn lock(&self) -> MutexGuard<'_, Policy> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn open_gate(&self) -> PolicyGate<'_> {
        let mut policy = self.lock();
        policy.judging = true;
        policy.refusal = None;
        PolicyGate(self)
    }

    fn take_refusal(&self) -> Option<String> {
        self.lock().refusal.take()
    }

    fn judge(&self, ctx: &AuthContext<'_>) -> Authorization {
        let mut policy = self.lock();
        if !policy.judging {
            return Authorization::Allow;
        }
        match refusal(&ctx.action) {
            None => Authorization::Allow,
            Some(reason) => {
                policy.refusal.get_or_insert(reason);
                Authorization::Deny
            }
        }
    }
}

/// Judging user SQL until dropped.
struct PolicyGate<'a>(&'a SharedPolicy);

impl Drop for PolicyGate<'_> {
    fn drop(&mut self) {
        self.0.lock().judging = false;
    }
}

fn is_internal(name: &str) -> bool {
    name.get(..INTERNAL_PREFIX.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(INTERNAL_PREFIX))
}

/// Why user SQL may not do `action`, if it may not.
fn refusal(action: &AuthAction<'_>) -> Option<String> {
    use AuthAction as A;
    let names: [Option<&str>; 2] = match *action {
        A::Read { table_name, .. }
        | A::Insert { table_name }
        | A::Update { table_name, .. }
        | A::Delete { table_name }
        | A::CreateTable { table_name }
        | A::CreateTempTable { table_name }
        | A::DropTable { table_name }
        | A::DropTempTable { table_name }
        | A::AlterTable { table_name, .. }
        | A::Analyze { table_name }
        | A::CreateVtable { table_name, .. }
        | A::DropVtable { table_name, .. } => [Some(table_name), None],
        A::CreateIndex {
            index_name,
            table_name,
        }
        | A::CreateTempIndex {
            index_name,
            table_name,
        }
        | A::DropIndex {
            index_name,
            table_name,
        }
        | A::DropTempIndex {
            index_name,
            table_name,
        } => [Some(index_name), Some(table_name)],
        A::CreateTrigger {
            trigger_name,
            table_name,
        }
        | A::CreateTempTrigger {
            trigger_name,
            table_name,
        }
        | A::DropTrigger {
            trigger_name,
            table_name,
        }
        | A::DropTempTrigger {
            trigger_name,
            table_name,
        } => [Some(trigger_name), Some(table_name)],
        A::CreateView { view_name }
        | A::CreateTempView { view_name }
        | A::DropView { view_name }
        | A::DropTempView { view_name } => [Some(view_name), None],
        A::Reindex { index_name } => [Some(index_name), None],
        A::Function {
            function_name: "load_extension",
        } => return Some("load_extension() is not allowed".into()),
        A::Attach { .. } => return Some("ATTACH is not allowed".into()),
        A::Detach { .. } => return Some("DETACH is not allowed".into()),
        A::Transaction { .. } | A::Savepoint { .. } => {
            return Some(
                "transaction statements (BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE) are not \
                 allowed in SQL; use the storage API's transaction() instead"
                    .into(),
            );
        }
        A::Pragma {
            pragma_name,
            pragma_value,
        } => return pragma_refusal(pragma_name, pragma_value),
        _ => [None, None],
    };
    names
        .into_iter()
        .flatten()
        .find(|name| is_internal(name))
        .map(internal_table_refusal)
}

fn internal_table_refusal(name: &str) -> String {
    format!("access to internal table {name} is not allowed")
}

fn pragma_refusal(name: &str, value: Option<&str>) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    if DESCRIBING_PRAGMAS.contains(&lower.as_str()) {
        let target = value.map(|v| v.trim_matches(|c| matches!(c, '\'' | '"' | '`' | '[' | ']')));
        return target
            .filter(|t| is_internal(t))
            .map(internal_table_refusal);
    }
    if value.is_none() && SETTING_PRAGMAS.contains(&lower.as_str()) {
        return None;
    }
    Some(format!(
        "PRAGMA {name} is not allowed (only pragmas that describe the schema or read a setting are)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::atomic::{AtomicU32, Ordering};

    fn store() -> ActorStore {
        ActorStore::open_in_memory().unwrap()
    }

    fn kv(pairs: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    fn keys(pairs: &[(String, Vec<u8>)]) -> Vec<&str> {
        pairs.iter().map(|(k, _)| k.as_str()).collect()
    }

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let path = std::env::temp_dir().join(format!(
                "ringworker-storage-{name}-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&path);
            Self(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn message(err: StoreError) -> String {
        err.to_string()
    }

    #[test]
    fn get_put_delete() {
        let mut s = store();
        assert_eq!(s.get("a").unwrap(), None);
        s.put("a", b"1").unwrap();
        assert_eq!(s.get("a").unwrap().as_deref(), Some(&b"1"[..]));
        s.put("a", b"2").unwrap();
        assert_eq!(s.get("a").unwrap().as_deref(), Some(&b"2"[..]));
        s.put("", b"").unwrap();
        assert_eq!(s.get("").unwrap(), Some(vec![]));
        assert!(s.delete("a").unwrap());
        assert!(!s.delete("a").unwrap());
        assert_eq!(s.get("a").unwrap(), None);
    }

    #[test]
    fn get_many_returns_found_keys_in_the_order_asked() {
        let mut s = store();
        s.put_many(&kv(&[("a", "1"), ("b", "2"), ("c", "3")]))
            .unwrap();
        let got = s.get_many(&strings(&["c", "x", "a", "b"])).unwrap();
        assert_eq!(got, kv(&[("c", "3"), ("a", "1"), ("b", "2")]));
        assert!(s.get_many(&[]).unwrap().is_empty());
    }

    #[test]
    fn key_and_value_limits() {
        let mut s = store();
        let longest = "k".repeat(MAX_KEY_BYTES);
        s.put(&longest, b"v").unwrap();
        let too_long = "k".repeat(MAX_KEY_BYTES + 1);
        let err = s.put(&too_long, b"v").unwrap_err();
        assert_eq!(message(err), "storage: key is longer than 2048 bytes");
        assert!(matches!(
            s.get(&too_long),
            Err(StoreError::KeyTooLong { len: 2049 })
        ));
        // Bytes, not characters: 1025 two-byte characters are too many.
        assert!(s.delete(&"é".repeat(1025)).is_err());

        let largest = vec![7u8; MAX_VALUE_BYTES];
        s.put("big", &largest).unwrap();
        assert_eq!(s.get("big").unwrap().unwrap().len(), MAX_VALUE_BYTES);
        let err = s.put("big", &vec![0u8; MAX_VALUE_BYTES + 1]).unwrap_err();
        assert_eq!(
            message(err),
            "storage: value is larger than 2 MiB (2097153 bytes)"
        );
    }

    #[test]
    fn put_many_is_all_or_nothing() {
        let mut s = store();
        let mut batch = kv(&[("a", "1"), ("b", "2")]);
        batch.push(("c".into(), vec![0; MAX_VALUE_BYTES + 1]));
        assert!(matches!(
            s.put_many(&batch),
            Err(StoreError::ValueTooLarge { .. })
        ));
        assert!(s.list(&ListOptions::default()).unwrap().is_empty());

        s.put_many(&kv(&[("a", "1"), ("b", "2")])).unwrap();
        assert_eq!(s.list(&ListOptions::default()).unwrap().len(), 2);
    }

    #[test]
    fn delete_many_counts_what_existed() {
        let mut s = store();
        s.put_many(&kv(&[("a", "1"), ("b", "2"), ("c", "3")]))
            .unwrap();
        assert_eq!(s.delete_many(&strings(&["a", "x", "c"])).unwrap(), 2);
        assert_eq!(keys(&s.list(&ListOptions::default()).unwrap()), vec!["b"]);
        // A bad key anywhere deletes nothing.
        let mut bad = strings(&["b"]);
        bad.push("k".repeat(MAX_KEY_BYTES + 1));
        assert!(s.delete_many(&bad).is_err());
        assert_eq!(s.get("b").unwrap().as_deref(), Some(&b"2"[..]));
    }

    fn alphabet() -> ActorStore {
        let mut s = store();
        let pairs: Vec<(String, Vec<u8>)> = ["a", "b", "ba", "bb", "bc", "c", "d"]
            .iter()
            .map(|k| (k.to_string(), k.as_bytes().to_vec()))
            .collect();
        s.put_many(&pairs).unwrap();
        s
    }

    fn list_keys(s: &mut ActorStore, opts: ListOptions) -> Vec<String> {
        s.list(&opts)
            .unwrap()
            .into_iter()
            .map(|(k, v)| {
                assert_eq!(k.as_bytes(), v.as_slice());
                k
            })
            .collect()
    }

    #[test]
    fn list_all_in_order_and_reversed() {
        let mut s = alphabet();
        assert_eq!(
            list_keys(&mut s, ListOptions::default()),
            ["a", "b", "ba", "bb", "bc", "c", "d"]
        );
        let reverse = ListOptions {
            reverse: true,
            ..Default::default()
        };
        assert_eq!(
            list_keys(&mut s, reverse),
            ["d", "c", "bc", "bb", "ba", "b", "a"]
        );
    }

    #[test]
    fn list_start_start_after_end() {
        let mut s = alphabet();
        let from = |start: Option<&str>, after: Option<&str>, end: Option<&str>| ListOptions {
            start: start.map(String::from),
            start_after: after.map(String::from),
            end: end.map(String::from),
            ..Default::default()
        };
        assert_eq!(
            list_keys(&mut s, from(Some("b"), None, None)),
            ["b", "ba", "bb", "bc", "c", "d"]
        );
        assert_eq!(
            list_keys(&mut s, from(None, Some("b"), None)),
            ["ba", "bb", "bc", "c", "d"]
        );
        assert_eq!(list_keys(&mut s, from(None, None, Some("b"))), ["a"]);
        assert_eq!(
            list_keys(&mut s, from(Some("b"), None, Some("c"))),
            ["b", "ba", "bb", "bc"]
        );
        assert_eq!(
            list_keys(&mut s, from(None, Some("ba"), Some("c"))),
            ["bb", "bc"]
        );
        // Both lower bounds apply: the tighter one wins.
        assert_eq!(
            list_keys(&mut s, from(Some("bb"), Some("b"), None)),
            ["bb", "bc", "c", "d"]
        );
        assert!(list_keys(&mut s, from(Some("c"), None, Some("b"))).is_empty());
        let mut reversed = from(Some("b"), None, Some("c"));
        reversed.reverse = true;
        reversed.limit = Some(2);
        assert_eq!(list_keys(&mut s, reversed), ["bc", "bb"]);
    }

    #[test]
    fn list_prefix_with_reverse_limit_and_bounds() {
        let mut s = alphabet();
        let prefix = |p: &str| ListOptions {
            prefix: Some(p.into()),
            ..Default::default()
        };
        assert_eq!(list_keys(&mut s, prefix("b")), ["b", "ba", "bb", "bc"]);
        assert_eq!(list_keys(&mut s, prefix("bb")), ["bb"]);
        assert!(list_keys(&mut s, prefix("x")).is_empty());
        assert_eq!(list_keys(&mut s, prefix("")).len(), 7);
        let opts = ListOptions {
            reverse: true,
            limit: Some(2),
            ..prefix("b")
        };
        assert_eq!(list_keys(&mut s, opts), ["bc", "bb"]);
        let opts = ListOptions {
            limit: Some(3),
            ..prefix("b")
        };
        assert_eq!(list_keys(&mut s, opts), ["b", "ba", "bb"]);
        let opts = ListOptions {
            start: Some("ba".into()),
            end: Some("bc".into()),
            ..prefix("b")
        };
        assert_eq!(list_keys(&mut s, opts), ["ba", "bb"]);
        let opts = ListOptions {
            start_after: Some("a".into()),
            end: Some("z".into()),
            ..prefix("b")
        };
        assert_eq!(list_keys(&mut s, opts), ["b", "ba", "bb", "bc"]);
        let opts = ListOptions {
            limit: Some(0),
            ..Default::default()
        };
        assert!(list_keys(&mut s, opts).is_empty());
        let opts = ListOptions {
            limit: Some(usize::MAX),
            ..Default::default()
        };
        assert_eq!(list_keys(&mut s, opts).len(), 7);
    }

    #[test]
    fn list_orders_unicode_keys_by_utf8_bytes() {
        let mut s = store();
        let mut all = strings(&[
            "z",
            "Z",
            "a",
            "é",
            "e\u{301}",
            "ä",
            "日本",
            "日",
            "\u{FFFF}",
            "\u{10000}",
            "😀",
            "\u{D7FF}x",
            "\u{E000}",
            "a\u{0}b",
        ]);
        let pairs: Vec<_> = all.iter().map(|k| (k.clone(), vec![1])).collect();
        s.put_many(&pairs).unwrap();
        // Rust's `str` order is byte order.
        all.sort();
        let listed = list_keys_ignoring_values(&mut s, ListOptions::default());
        assert_eq!(listed, all);
        let listed = list_keys_ignoring_values(
            &mut s,
            ListOptions {
                prefix: Some("日".into()),
                ..Default::default()
            },
        );
        assert_eq!(listed, ["日", "日本"]);
        let listed = list_keys_ignoring_values(
            &mut s,
            ListOptions {
                prefix: Some("\u{D7FF}".into()),
                ..Default::default()
            },
        );
        assert_eq!(listed, ["\u{D7FF}x"]);
    }

    fn list_keys_ignoring_values(s: &mut ActorStore, opts: ListOptions) -> Vec<String> {
        s.list(&opts).unwrap().into_iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn prefix_successor_skips_surrogates_and_the_last_char() {
        assert_eq!(prefix_successor("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_successor("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(prefix_successor("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_successor("\u{10FFFF}\u{10FFFF}"), None);
        assert_eq!(prefix_successor(""), None);
    }

    #[test]
    fn exec_binds_and_returns_every_value_type() {
        let mut s = store();
        s.exec("CREATE TABLE t (n, i, r, s, b)", &[]).unwrap();
        let values = vec![
            SqlValue::Null,
            SqlValue::Integer(i64::MIN),
            SqlValue::Real(1.5),
            SqlValue::Text("héllo".into()),
            SqlValue::Blob(vec![0, 255, 1]),
        ];
        let inserted = s
            .exec("INSERT INTO t VALUES (?, ?, ?, ?, ?)", &values)
            .unwrap();
        assert_eq!(inserted.rows_written, 1);
        assert!(inserted.columns.is_empty() && inserted.rows.is_empty());
        let out = s
            .exec(
                "SELECT * FROM t WHERE i = ?1 AND s = ?2",
                &[values[1].clone(), values[3].clone()],
            )
            .unwrap();
        assert_eq!(out.columns, ["n", "i", "r", "s", "b"]);
        assert_eq!(out.rows, vec![values.clone()]);
        assert_eq!(out.rows_written, 0);
        assert!(out.rows_read >= 1);
        let typed = s
            .exec(
                "SELECT typeof(?1), typeof(?2), typeof(?3), typeof(?4), typeof(?5)",
                &values,
            )
            .unwrap();
        let types: Vec<SqlValue> = ["null", "integer", "real", "text", "blob"]
            .iter()
            .map(|t| SqlValue::Text(t.to_string()))
            .collect();
        assert_eq!(typed.rows, vec![types]);
        let err = s.exec("SELECT ?1, ?2", &values[..1]).unwrap_err();
        assert!(message(err).starts_with("SQL error: "));
    }

    #[test]
    fn exec_runs_every_statement_and_returns_the_last() {
        let mut s = store();
        let out = s
            .exec(
                "CREATE TABLE t (x INTEGER PRIMARY KEY, y TEXT);
                 INSERT INTO t (y) VALUES ('a'), ('b'), ('c');
                 UPDATE t SET y = upper(y) WHERE x > 1;
                 SELECT x, y FROM t ORDER BY x;  -- trailing comment
                 ",
                &[],
            )
            .unwrap();
        assert_eq!(out.columns, ["x", "y"]);
        assert_eq!(
            out.rows,
            vec![
                vec![SqlValue::Integer(1), SqlValue::Text("a".into())],
                vec![SqlValue::Integer(2), SqlValue::Text("B".into())],
                vec![SqlValue::Integer(3), SqlValue::Text("C".into())],
            ]
        );
        assert_eq!(out.rows_written, 3 + 2);
        assert!(out.rows_read >= 3, "{out:?}");
        let full_scan = s.exec("SELECT count(*) FROM t WHERE y > ''", &[]).unwrap();
        assert_eq!(full_scan.rows, vec![vec![SqlValue::Integer(3)]]);
        assert_eq!(full_scan.rows_read, 3);
        assert_eq!(s.exec("", &[]).unwrap(), SqlResult::default());
        assert_eq!(s.exec(" ; -- nothing", &[]).unwrap(), SqlResult::default());
    }

    #[test]
    fn exec_is_all_or_nothing() {
        let mut s = store();
        s.exec("CREATE TABLE t (x UNIQUE)", &[]).unwrap();
        let err = s
            .exec("INSERT INTO t VALUES (1); INSERT INTO t VALUES (1)", &[])
            .unwrap_err();
        assert!(message(err).contains("UNIQUE constraint failed"));
        let count = s.exec("SELECT count(*) FROM t", &[]).unwrap();
        assert_eq!(count.rows, vec![vec![SqlValue::Integer(0)]]);
    }

    #[test]
    fn exec_refuses_params_with_several_statements() {
        let mut s = store();
        let err = s
            .exec(
                "CREATE TABLE t (x); INSERT INTO t VALUES (?)",
                &[SqlValue::Integer(1)],
            )
            .unwrap_err();
        assert!(matches!(err, StoreError::ParamsNeedOneStatement));
        assert_eq!(
            message(err),
            "SQL error: parameters are only allowed when the SQL is exactly one statement"
        );
        // The first statement was undone.
        let err = s.exec("SELECT * FROM t", &[]).unwrap_err();
        assert_eq!(message(err), "SQL error: no such table: t");
        // A trailing `;` is not a second statement.
        let out = s.exec("SELECT ?;", &[SqlValue::Integer(4)]).unwrap();
        assert_eq!(out.rows, vec![vec![SqlValue::Integer(4)]]);
    }

    #[test]
    fn exec_keeps_user_sql_off_internal_tables() {
        let mut s = store();
        s.put("secret", b"x").unwrap();
        s.exec("CREATE TABLE mine (x)", &[]).unwrap();
        let refused = [
            ("SELECT * FROM _rw_kv", "_rw_kv"),
            ("SELECT count(*) FROM _rw_kv", "_rw_kv"),
            ("SELECT value FROM _RW_KV", "_rw_kv"),
            ("INSERT INTO _rw_kv VALUES ('k', x'00')", "_rw_kv"),
            ("UPDATE _rw_meta SET value = 1", "_rw_meta"),
            ("DELETE FROM _rw_kv", "_rw_kv"),
            ("DROP TABLE _rw_kv", "_rw_kv"),
            ("INSERT INTO mine SELECT key FROM _rw_kv", "_rw_kv"),
            ("CREATE INDEX i ON _rw_kv (value)", "_rw_kv"),
            (
                "CREATE TRIGGER t AFTER INSERT ON _rw_kv BEGIN SELECT 1; END",
                "_rw_kv",
            ),
            ("CREATE TABLE _rw_mine (x)", "_rw_mine"),
            ("ALTER TABLE _rw_kv ADD COLUMN y", "_rw_kv"),
            ("PRAGMA table_info(_rw_kv)", "_rw_kv"),
        ];
        for (sql, table) in refused {
            let err = s.exec(sql, &[]).unwrap_err();
            assert!(matches!(err, StoreError::NotAllowed(_)), "{sql}: {err}");
            assert_eq!(
                message(err),
                format!("access to internal table {table} is not allowed"),
                "{sql}"
            );
        }
        // Through a view, at the time it is used.
        s.exec("CREATE VIEW peek AS SELECT * FROM _rw_kv", &[])
            .unwrap();
        let err = s.exec("SELECT * FROM peek", &[]).unwrap_err();
        assert_eq!(
            message(err),
            "access to internal table _rw_kv is not allowed"
        );
        // A refused statement in a batch undoes the ones before it.
        assert!(
            s.exec("INSERT INTO mine VALUES (1); SELECT * FROM _rw_kv", &[])
                .is_err()
        );
        let mine = s.exec("SELECT count(*) FROM mine", &[]).unwrap();
        assert_eq!(mine.rows, vec![vec![SqlValue::Integer(0)]]);
        // The API itself still reaches them.
        assert_eq!(s.get("secret").unwrap().as_deref(), Some(&b"x"[..]));
        s.put("other", b"y").unwrap();
        assert_eq!(s.list(&ListOptions::default()).unwrap().len(), 2);
        s.set_alarm(Some(5)).unwrap();
        assert_eq!(s.alarm().unwrap(), Some(5));
    }

    #[test]
    fn exec_refuses_attach_transactions_and_writing_pragmas() {
        let mut s = store();
        let refused = [
            (
                "ATTACH DATABASE ':memory:' AS other",
                "ATTACH is not allowed",
            ),
            ("DETACH DATABASE temp", "DETACH is not allowed"),
            ("BEGIN", "transaction statements"),
            ("BEGIN IMMEDIATE", "transaction statements"),
            ("COMMIT", "transaction statements"),
            ("ROLLBACK", "transaction statements"),
            ("SAVEPOINT x", "transaction statements"),
            ("RELEASE x", "transaction statements"),
            (
                "PRAGMA journal_mode = DELETE",
                "PRAGMA journal_mode is not allowed",
            ),
            (
                "PRAGMA user_version = 3",
                "PRAGMA user_version is not allowed",
            ),
            (
                "PRAGMA writable_schema = 1",
                "PRAGMA writable_schema is not allowed",
            ),
            (
                "PRAGMA database_list",
                "PRAGMA database_list is not allowed",
            ),
            (
                "PRAGMA wal_checkpoint",
                "PRAGMA wal_checkpoint is not allowed",
            ),
            (
                "PRAGMA foreign_keys = OFF",
                "PRAGMA foreign_keys is not allowed",
            ),
            (
                "SELECT load_extension('x')",
                "load_extension() is not allowed",
            ),
        ];
        for (sql, expected) in refused {
            let err = s.exec(sql, &[]).unwrap_err();
            assert!(message(err).starts_with(expected), "{sql}");
        }
        assert_eq!(s.depth(), 0);
        s.exec("CREATE TABLE t (x INTEGER, y TEXT)", &[]).unwrap();
        let info = s.exec("PRAGMA table_info(t)", &[]).unwrap();
        assert_eq!(info.rows.len(), 2);
        assert_eq!(info.columns[1], "name");
        let info = s
            .exec("SELECT name FROM pragma_table_info('t')", &[])
            .unwrap();
        assert_eq!(info.rows.len(), 2);
        let version = s.exec("PRAGMA user_version", &[]).unwrap();
        assert_eq!(version.rows, vec![vec![SqlValue::Integer(0)]]);
        s.exec("PRAGMA quick_check", &[]).unwrap();
        // The bundled SQLite enforces foreign keys, as Durable Objects do.
        let fk = s.exec("PRAGMA foreign_keys", &[]).unwrap();
        assert_eq!(fk.rows, vec![vec![SqlValue::Integer(1)]]);
    }

    #[test]
    fn exec_reports_sql_errors_as_sqlite_says() {
        let mut s = store();
        let err = s.exec("SELECT * FROM foo", &[]).unwrap_err();
        assert_eq!(message(err), "SQL error: no such table: foo");
        let err = s.exec("SELEC 1", &[]).unwrap_err();
        assert!(message(err).starts_with("SQL error: near \"SELEC\""));
    }

    #[test]
    fn savepoints_nest() {
        let mut s = store();
        assert!(matches!(s.release(), Err(StoreError::NoSavepoint)));
        assert!(matches!(s.rollback(), Err(StoreError::NoSavepoint)));
        s.savepoint().unwrap();
        s.put("outer", b"1").unwrap();
        s.savepoint().unwrap();
        assert_eq!(s.depth(), 2);
        s.put("inner", b"1").unwrap();
        s.exec("CREATE TABLE t (x)", &[]).unwrap();
        s.rollback().unwrap();
        assert_eq!(s.depth(), 1);
        assert_eq!(s.get("inner").unwrap(), None);
        assert!(s.exec("SELECT * FROM t", &[]).is_err());
        assert!(s.get("outer").unwrap().is_some());

        s.savepoint().unwrap();
        s.put("kept", b"1").unwrap();
        s.release().unwrap();
        assert_eq!(s.depth(), 1);
        s.release().unwrap();
        assert_eq!(s.depth(), 0);
        assert_eq!(
            keys(&s.list(&ListOptions::default()).unwrap()),
            ["kept", "outer"]
        );

        // Rolling back the outermost undoes everything in it.
        s.savepoint().unwrap();
        s.put("gone", b"1").unwrap();
        s.put_many(&kv(&[("gone2", "1")])).unwrap();
        s.set_alarm(Some(9)).unwrap();
        s.rollback().unwrap();
        assert_eq!(s.get("gone").unwrap(), None);
        assert_eq!(s.get("gone2").unwrap(), None);
        assert_eq!(s.alarm().unwrap(), None);

        // So does rolling back a delete_all.
        s.exec("CREATE TABLE t (x)", &[]).unwrap();
        s.savepoint().unwrap();
        s.delete_all().unwrap();
        s.rollback().unwrap();
        assert_eq!(s.list(&ListOptions::default()).unwrap().len(), 2);
        s.exec("SELECT * FROM t", &[]).unwrap();
    }

    #[test]
    fn alarm_set_and_clear() {
        let mut s = store();
        assert_eq!(s.alarm().unwrap(), None);
        s.set_alarm(Some(1_700_000_000_000)).unwrap();
        assert_eq!(s.alarm().unwrap(), Some(1_700_000_000_000));
        s.set_alarm(Some(-5)).unwrap();
        assert_eq!(s.alarm().unwrap(), Some(-5));
        s.set_alarm(None).unwrap();
        assert_eq!(s.alarm().unwrap(), None);
        s.set_alarm(None).unwrap();
    }

    #[test]
    fn delete_all_drops_user_objects_and_keeps_the_alarm() {
        let mut s = store();
        s.put_many(&kv(&[("a", "1"), ("b", "2")])).unwrap();
        s.set_alarm(Some(42)).unwrap();
        s.exec(
            "CREATE TABLE \"odd \"\"name\" (x INTEGER PRIMARY KEY AUTOINCREMENT, y);
             CREATE INDEX by_y ON \"odd \"\"name\" (y);
             CREATE TABLE log (z);
             CREATE VIEW v AS SELECT y FROM \"odd \"\"name\";
             CREATE TRIGGER tr AFTER INSERT ON \"odd \"\"name\" BEGIN INSERT INTO log VALUES (1); END;
             CREATE VIRTUAL TABLE docs USING fts5(body);
             CREATE TEMP TABLE scratch (w);
             CREATE TABLE parent (id INTEGER PRIMARY KEY);
             CREATE TABLE child (parent_id INTEGER REFERENCES parent (id));
             INSERT INTO parent VALUES (1);
             INSERT INTO child VALUES (1);
             INSERT INTO \"odd \"\"name\" (y) VALUES (1);",
            &[],
        )
        .unwrap();
        s.delete_all().unwrap();
        assert!(s.list(&ListOptions::default()).unwrap().is_empty());
        assert_eq!(s.alarm().unwrap(), Some(42));
        let left = s
            .exec(
                "SELECT name FROM sqlite_schema UNION ALL SELECT name FROM temp.sqlite_schema",
                &[],
            )
            .unwrap();
        let left: Vec<_> = left.rows.into_iter().flatten().collect();
        assert_eq!(
            left,
            [
                SqlValue::Text("_rw_kv".into()),
                SqlValue::Text("_rw_meta".into()),
                // SQLite's own, created for AUTOINCREMENT; it stays, empty.
                SqlValue::Text("sqlite_sequence".into()),
            ]
        );
        let sequences = s.exec("SELECT count(*) FROM sqlite_sequence", &[]).unwrap();
        assert_eq!(sequences.rows, vec![vec![SqlValue::Integer(0)]]);
        let deferred = s.exec("PRAGMA defer_foreign_keys", &[]).unwrap();
        assert_eq!(deferred.rows, vec![vec![SqlValue::Integer(0)]]);
        // The store still works, and so does creating the same names again.
        s.put("c", b"3").unwrap();
        s.exec("CREATE TABLE log (z)", &[]).unwrap();
    }

    #[test]
    fn size_bytes_grows_with_data() {
        let mut s = store();
        let empty = s.size_bytes().unwrap();
        assert!(empty > 0);
        s.put("big", &vec![1; 200_000]).unwrap();
        assert!(s.size_bytes().unwrap() >= empty + 200_000);
    }

    #[test]
    fn data_persists_across_reopen() {
        let dir = TempDir::new("reopen");
        let path = dir.0.join("ns/nested/actor.sqlite");
        {
            let mut s = ActorStore::open(&path, Durability::Full).unwrap();
            s.put_many(&kv(&[("a", "1"), ("b", "2")])).unwrap();
            s.exec("CREATE TABLE t (x); INSERT INTO t VALUES ('kept')", &[])
                .unwrap();
            s.set_alarm(Some(77)).unwrap();
            s.savepoint().unwrap();
            s.put("uncommitted", b"x").unwrap();
            // Dropped with the savepoint open: never committed.
        }
        let mut s = ActorStore::open(&path, Durability::Normal).unwrap();
        assert_eq!(
            s.list(&ListOptions::default()).unwrap(),
            kv(&[("a", "1"), ("b", "2")])
        );
        let t = s.exec("SELECT x FROM t", &[]).unwrap();
        assert_eq!(t.rows, vec![vec![SqlValue::Text("kept".into())]]);
        assert_eq!(s.alarm().unwrap(), Some(77));
        let mode = s
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0));
        assert_eq!(mode.unwrap(), "wal");
    }

    #[test]
    fn open_reports_an_uncreatable_directory() {
        let dir = TempDir::new("blocked");
        std::fs::create_dir_all(&dir.0).unwrap();
        let file = dir.0.join("file");
        std::fs::write(&file, b"").unwrap();
        let err = ActorStore::open(&file.join("sub/a.sqlite"), Durability::Normal).unwrap_err();
        assert!(message(err).starts_with("storage: cannot create directory"));
    }

    #[test]
    fn alarm_index_is_shared_between_connections() {
        let dir = TempDir::new("alarms");
        let path = dir.0.join("alarms.sqlite");
        let mut one = AlarmIndex::open(&path).unwrap();
        let mut two = AlarmIndex::open(&path).unwrap();
        one.set("counter", "b", Some(30)).unwrap();
        two.set("counter", "a", Some(20)).unwrap();
        two.set("chat", "x", Some(20)).unwrap();
        one.set("chat", "y", Some(10)).unwrap();
        let entry = |ns: &str, id: &str, at| (ns.to_string(), id.to_string(), at);
        let expected = vec![
            entry("chat", "y", 10),
            entry("chat", "x", 20),
            entry("counter", "a", 20),
            entry("counter", "b", 30),
        ];
        assert_eq!(one.all().unwrap(), expected);
        assert_eq!(two.all().unwrap(), expected);
        // Moving and clearing.
        two.set("chat", "y", Some(40)).unwrap();
        one.set("counter", "a", None).unwrap();
        one.set("nobody", "none", None).unwrap();
        let expected = vec![
            entry("chat", "x", 20),
            entry("counter", "b", 30),
            entry("chat", "y", 40),
        ];
        assert_eq!(two.all().unwrap(), expected);
        drop((one, two));
        assert_eq!(AlarmIndex::open(&path).unwrap().all().unwrap(), expected);
    }

    const KILL_PATH_VAR: &str = "RINGWORKER_STORAGE_KILL_TEST_PATH";
    const KILL_KEYS: usize = 200;

    /// Run by `committed_writes_survive_a_killed_process` in a child process:
    /// writes and then aborts without closing the database.
    #[test]
    #[ignore = "helper: run by committed_writes_survive_a_killed_process"]
    fn killed_writer_helper() {
        let Some(path) = std::env::var_os(KILL_PATH_VAR) else {
            return;
        };
        let mut s = ActorStore::open(Path::new(&path), Durability::Normal).unwrap();
        for i in 0..KILL_KEYS {
            s.put(&format!("key{i:04}"), &i.to_le_bytes()).unwrap();
        }
        s.set_alarm(Some(123)).unwrap();
        std::process::abort();
    }

    #[test]
    fn committed_writes_survive_a_killed_process() {
        let dir = TempDir::new("killed");
        let path = dir.0.join("actor.sqlite");
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "storage::tests::killed_writer_helper",
                "--test-threads=1",
            ])
            .env(KILL_PATH_VAR, &path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(!status.success(), "the helper should have aborted");
        let mut s = ActorStore::open(&path, Durability::Normal).unwrap();
        let all = s.list(&ListOptions::default()).unwrap();
        assert_eq!(all.len(), KILL_KEYS);
        assert_eq!(
            all[7],
            ("key0007".to_string(), 7usize.to_le_bytes().to_vec())
        );
        assert_eq!(s.alarm().unwrap(), Some(123));
    }
}
