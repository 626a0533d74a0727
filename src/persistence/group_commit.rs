//! SQLite's ticket work, committed in groups.
//!
//! SQLite has one writer, and each commit writes every page its transaction touched to the
//! write-ahead log: opening one ticket alone touches about 35 (the ticket, its three timers, its
//! event, its search document, a new full-text segment, and their indexes' leaves). Tickets
//! written together touch mostly the same pages, so work that waits for the writer anyway joins
//! the transaction already open instead of queueing for a transaction of its own:
//!
//! - each unit runs in a savepoint of its own, so a unit that fails or is abandoned undoes only
//!   its own writes;
//! - the group commits when no other unit is waiting for its turn, or at [`MAX_GROUP`] units, or
//!   when a unit does not commit. SQLite may roll back a whole transaction on some errors (a
//!   full disk, an I/O error): ending the group there means its earlier units are told by their
//!   commit's error, and no later unit writes into a transaction that is gone;
//! - a unit's [`Turn::commit`] returns only once its group's commit did, with its result, so no
//!   caller answers before its writes are committed.
//!
//! The commit itself runs in a task of its own: a request abandoned by its client cannot leave a
//! group half committed or its other units waiting. PostgreSQL has concurrent writers and needs
//! none of this ([`GroupCommit::for_db`] is `None` there).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sea_orm::{ConnAcquireErr, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use tokio::sync::{Mutex, OwnedMutexGuard, oneshot};

/// Units in one group at most: a bound on how long the first waits for the commit.
pub const MAX_GROUP: usize = 64;

/// Waits for its group's commit: `Err` carries the commit's error, as text (every unit of the
/// group gets it).
type Joined = oneshot::Sender<Result<(), String>>;

#[derive(Default)]
struct Group {
    /// The group's transaction, begun by its first unit.
    txn: Option<DatabaseTransaction>,
    /// Units whose savepoints were released, waiting for the commit.
    joined: Vec<Joined>,
}

/// The writer's turns and the open group. One per SQLite database in a process.
pub struct GroupCommit {
    group: Arc<Mutex<Group>>,
    /// Units waiting for their turn: while there are some, a unit that commits hands the open
    /// transaction on instead of committing it.
    waiting: Arc<AtomicUsize>,
    /// How long a unit waits for its turn before it fails, as a checkout from the pool would.
    within: Duration,
}

impl GroupCommit {
    /// For SQLite; `None` for PostgreSQL. A unit waits `within` for its turn at most.
    pub fn for_db(db: &DatabaseConnection, within: Duration) -> Option<Self> {
        (db.get_database_backend() == DatabaseBackend::Sqlite).then(|| Self::new(within))
    }

    fn new(within: Duration) -> Self {
        Self { group: Arc::default(), waiting: Arc::default(), within }
    }

    /// Waits for the writer (failing after `within`, as a pool checkout would), then begins a
    /// savepoint in the group's transaction (beginning the transaction first when this is the
    /// group's first unit). The unit ends with
    /// [`Turn::commit`] after releasing the savepoint, or [`Turn::rollback`] after rolling it
    /// back; a turn dropped without either (an error, a cancelled request) ends the group as
    /// `rollback` does, and the savepoint's own drop rolls it back first.
    pub async fn begin(&self, db: &DatabaseConnection) -> Result<(DatabaseTransaction, Turn), DbErr> {
        let wait = Waiting::start(self);
        let mut group = tokio::time::timeout(self.within, Arc::clone(&self.group).lock_owned())
            .await
            .map_err(|_| DbErr::ConnectionAcquire(ConnAcquireErr::Timeout))?;
        wait.served();
        let outer = match &mut group.txn {
            Some(open) => open,
            // Nothing joined yet: a failure here leaves nothing to commit.
            none => none.insert(db.begin().await?),
        };
        let savepoint = outer.begin().await;
        // From here a failure ends the group (the turn's drop), for the units that joined it.
        let turn = Turn { group: Some(group), waiting: Arc::clone(&self.waiting) };
        Ok((savepoint?, turn))
    }
}

/// A unit's turn at the writer.
pub struct Turn {
    group: Option<OwnedMutexGuard<Group>>,
    waiting: Arc<AtomicUsize>,
}

impl Turn {
    /// The unit's savepoint was released: hands the writer on (or commits the group), and returns
    /// once the group has committed.
    pub async fn commit(mut self) -> Result<(), DbErr> {
        let Some(mut group) = self.group.take() else {
            return Err(DbErr::Custom("a turn ended twice".into()));
        };
        let (joined, committed) = oneshot::channel();
        group.joined.push(joined);
        // Hands the writer on to a unit waiting, or commits the group.
        if self.waiting.load(Ordering::SeqCst) > 0 && group.joined.len() < MAX_GROUP {
            drop(group);
        } else {
            end(group);
        }
        match committed.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(DbErr::Custom(format!("the group commit failed: {e}"))),
            Err(_) => Err(DbErr::Custom("the group's transaction ended without committing".into())),
        }
    }

    /// The unit's savepoint was rolled back: commits the group, for the units that joined it.
    /// That is what dropping a turn does; this names it at the call.
    pub fn rollback(self) {}
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Some(group) = self.group.take() {
            end(group);
        }
    }
}

/// Counts a unit as waiting until it is served; one abandoned while waiting (its request was
/// cancelled) may have been handed the writer by a unit that counted on it to go on, so it
/// commits whatever group is open.
struct Waiting<'a> {
    commit: &'a GroupCommit,
    served: bool,
}

impl<'a> Waiting<'a> {
    fn start(commit: &'a GroupCommit) -> Self {
        commit.waiting.fetch_add(1, Ordering::SeqCst);
        Self { commit, served: false }
    }

    fn served(mut self) {
        self.served = true;
        self.commit.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.served {
            return;
        }
        self.commit.waiting.fetch_sub(1, Ordering::SeqCst);
        let group = Arc::clone(&self.commit.group);
        spawn(async move { commit_group(group.lock_owned().await).await });
    }
}

/// Commits the group in a task of its own, so that nothing cancels it halfway.
fn end(group: OwnedMutexGuard<Group>) {
    // Units join only a group whose transaction is open.
    if group.txn.is_some() {
        spawn(commit_group(group));
    }
}

fn spawn(f: impl Future<Output = ()> + Send + 'static) {
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => drop(rt.spawn(f)),
        // Outside a runtime, the process is ending: the open transaction rolls back with it, and
        // no unit is left to tell.
        Err(_) => tracing::warn!("a group of SQLite writes was left uncommitted at shutdown"),
    }
}

async fn commit_group(mut group: OwnedMutexGuard<Group>) {
    let result = match group.txn.take() {
        Some(txn) => txn.commit().await.map_err(|e| e.to_string()),
        None => Ok(()),
    };
    if let Err(e) = &result {
        tracing::error!(error = %e, units = group.joined.len(), "a group commit failed: its units' writes are undone");
    }
    for joined in group.joined.drain(..) {
        let _ = joined.send(result.clone());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use sea_orm::{ConnectOptions, ConnectionTrait, Database, Statement};

    use super::*;

    async fn memory() -> DatabaseConnection {
        let mut opts = ConnectOptions::new("sqlite::memory:");
        opts.max_connections(1).min_connections(1).sqlx_logging(false);
        let db = Database::connect(opts).await.unwrap();
        db.execute_unprepared("CREATE TABLE t (id INTEGER PRIMARY KEY)").await.unwrap();
        db
    }

    /// A database of one table, and its writer's turns.
    async fn rig() -> (DatabaseConnection, Arc<GroupCommit>) {
        (memory().await, Arc::new(GroupCommit::new(Duration::from_secs(60))))
    }

    async fn insert(txn: &DatabaseTransaction, id: i64) {
        txn.execute_unprepared(&format!("INSERT INTO t (id) VALUES ({id})")).await.unwrap();
    }

    /// The rows as `db` (the pool, or a unit's savepoint) sees them.
    async fn ids(db: &impl ConnectionTrait) -> Vec<i64> {
        let rows = db
            .query_all_raw(Statement::from_string(DatabaseBackend::Sqlite, "SELECT id FROM t ORDER BY id"))
            .await
            .unwrap();
        rows.iter().map(|r| r.try_get_by_index::<i64>(0).unwrap()).collect()
    }

    /// Within a minute, or the group was stranded.
    async fn bounded<T>(f: impl Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(60), f).await.expect("a unit waited for a commit that never came")
    }

    #[tokio::test]
    async fn each_unit_keeps_or_undoes_only_its_own_writes() {
        let (db, commit) = rig().await;
        let mut units = Vec::new();
        for id in 0..30_i64 {
            units.push(unit(&db, &commit, move |txn, turn| async move {
                insert(&txn, id).await;
                match id % 3 {
                    0 => {
                        txn.commit().await.unwrap();
                        turn.commit().await.map(|()| Some(id))
                    }
                    1 => {
                        txn.rollback().await.unwrap();
                        turn.rollback();
                        Ok(None)
                    }
                    // An error or a cancelled request: both dropped as they are.
                    _ => Ok(None),
                }
            }));
        }
        let mut committed = Vec::new();
        for unit in units {
            committed.extend(bounded(unit).await.unwrap().unwrap());
        }
        assert_eq!(ids(&db).await, committed);
        assert_eq!(committed, (0..30).filter(|id| id % 3 == 0).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_unit_waiting_joins_the_open_transaction_and_one_abandoned_strands_no_one() {
        let (db, commit) = rig().await;
        let first = released(&db, &commit, 1).await;
        // A second unit waits for the writer while the first holds it.
        let second = unit(&db, &commit, |txn, turn| async move {
            let seen = ids(&txn).await;
            insert(&txn, 2).await;
            txn.commit().await.unwrap();
            turn.commit().await.unwrap();
            seen
        });
        waiting(&commit, 1).await;
        // The first unit hands its open transaction on: the second sees its write uncommitted.
        let first = tokio::spawn(first.commit());
        assert_eq!(bounded(second).await.unwrap(), vec![1]);
        bounded(first).await.unwrap().unwrap();
        assert_eq!(ids(&db).await, vec![1, 2]);

        // A unit abandoned while it waits, after the unit before it handed it the writer.
        let first = released(&db, &commit, 3).await;
        let abandoned = unit(&db, &commit, |txn, _turn| async move {
            insert(&txn, 4).await;
            std::future::pending::<()>().await;
        });
        waiting(&commit, 1).await;
        let first = tokio::spawn(first.commit());
        abandoned.abort();
        bounded(first).await.unwrap().unwrap();
        assert_eq!(ids(&db).await, vec![1, 2, 3]);
    }

    #[tokio::test]
    async fn a_unit_whose_failure_took_the_transaction_with_it_ends_the_group_and_its_units_are_told() {
        let (db, commit) = rig().await;
        let first = released(&db, &commit, 1).await;
        let failing = unit(&db, &commit, |txn, _turn| async move {
            // As SQLite does on a full disk or an I/O error: the whole transaction is gone.
            let _ = txn.execute_unprepared("ROLLBACK").await;
            // The unit fails: its savepoint and its turn are dropped.
        });
        waiting(&commit, 1).await;
        let after = unit(&db, &commit, |txn, turn| async move {
            insert(&txn, 3).await;
            txn.commit().await.unwrap();
            turn.commit().await
        });
        waiting(&commit, 2).await;
        let first = tokio::spawn(first.commit());
        bounded(failing).await.unwrap();
        let told = bounded(first).await.unwrap();
        assert!(told.is_err(), "the first unit was told its write was committed");
        // The unit waiting behind the failure began a group of its own.
        bounded(after).await.unwrap().unwrap();
        assert_eq!(ids(&db).await, vec![3]);
    }

    /// A unit in a task of its own: `body` gets its savepoint and its turn once it has the writer.
    fn unit<T, F>(
        db: &DatabaseConnection,
        commit: &Arc<GroupCommit>,
        body: impl FnOnce(DatabaseTransaction, Turn) -> F + Send + 'static,
    ) -> tokio::task::JoinHandle<T>
    where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
    {
        let (db, commit) = (db.clone(), Arc::clone(commit));
        tokio::spawn(async move {
            let (txn, turn) = commit.begin(&db).await.unwrap();
            body(txn, turn).await
        })
    }

    /// A unit that wrote `id` and released its savepoint, still holding the writer.
    async fn released(db: &DatabaseConnection, commit: &GroupCommit, id: i64) -> Turn {
        let (txn, turn) = commit.begin(db).await.unwrap();
        insert(&txn, id).await;
        txn.commit().await.unwrap();
        turn
    }

    /// Until `n` units wait for their turn.
    async fn waiting(commit: &GroupCommit, n: usize) {
        while commit.waiting.load(Ordering::SeqCst) < n {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn a_unit_that_cannot_have_its_turn_in_time_fails_as_a_pool_checkout_would() {
        let db = memory().await;
        let commit = GroupCommit::new(Duration::ZERO);
        let (txn, turn) = commit.begin(&db).await.unwrap();
        insert(&txn, 1).await;
        let refused = commit.begin(&db).await.err().expect("the writer is taken");
        assert!(matches!(refused, DbErr::ConnectionAcquire(ConnAcquireErr::Timeout)), "{refused}");
        txn.commit().await.unwrap();
        bounded(turn.commit()).await.unwrap();
        assert_eq!(ids(&db).await, vec![1]);
    }
}
