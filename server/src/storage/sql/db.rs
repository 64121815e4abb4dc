//! One query API over both databases.
//!
//! PostgreSQL and SQLite accept the same SQL for everything fin_intelli does (`$n`
//! placeholders, `returning`, `on conflict`, `cast`), and sqlx decodes the same Rust types
//! from both. So every query is written once, as plain code: [`query`] collects the SQL text
//! and its arguments ([`Arg`], owned values), and only at execution does it become a sqlx
//! query for the database the [`Conn`] belongs to. Generic sqlx code would need the same
//! twenty `Encode`/`Decode` bounds repeated on every function; here the bounds are checked
//! once per call site, on concrete types.

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgArguments, PgConnection, PgPool, PgRow, Postgres};
use sqlx::sqlite::{Sqlite, SqliteArguments, SqliteConnection, SqlitePool, SqliteRow};
use sqlx::{Decode, Encode, FromRow, Row as _, Type};

/// A connection pool of either database.
#[derive(Debug, Clone)]
pub enum Pool {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

impl Pool {
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        Ok(match self {
            Pool::Postgres(pool) => Tx::Postgres(pool.begin().await?),
            Pool::Sqlite(pool) => Tx::Sqlite(pool.begin().await?),
        })
    }
}

/// An open transaction; dropped without [`Tx::commit`], it rolls back.
pub enum Tx {
    Postgres(sqlx::Transaction<'static, Postgres>),
    Sqlite(sqlx::Transaction<'static, Sqlite>),
}

impl Tx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Postgres(tx) => tx.commit().await,
            Tx::Sqlite(tx) => tx.commit().await,
        }
    }
}

/// Where a query runs: a pool, or an open transaction. Built from `&Pool` or `&mut Tx`, so
/// a PostgreSQL query can never meet a SQLite connection.
pub enum Conn<'c> {
    PgPool(&'c PgPool),
    PgTx(&'c mut PgConnection),
    SqlitePool(&'c SqlitePool),
    SqliteTx(&'c mut SqliteConnection),
}

impl<'c> From<&'c Pool> for Conn<'c> {
    fn from(pool: &'c Pool) -> Self {
        match pool {
            Pool::Postgres(pool) => Conn::PgPool(pool),
            Pool::Sqlite(pool) => Conn::SqlitePool(pool),
        }
    }
}

impl<'c> From<&'c mut Tx> for Conn<'c> {
    fn from(tx: &'c mut Tx) -> Self {
        match tx {
            Tx::Postgres(tx) => Conn::PgTx(tx),
            Tx::Sqlite(tx) => Conn::SqliteTx(tx),
        }
    }
}

/// One bound argument. `None` binds SQL `null` of the variant's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    BigInt(Option<i64>),
    Int(Option<i32>),
    Double(Option<f64>),
    Bool(bool),
    Text(Option<String>),
    Time(Option<DateTime<Utc>>),
}

macro_rules! arg_from {
    ($($ty:ty => $variant:ident),* $(,)?) => {$(
        impl From<$ty> for Arg {
            fn from(value: $ty) -> Self {
                Arg::$variant(Some(value.into()))
            }
        }
        impl From<Option<$ty>> for Arg {
            fn from(value: Option<$ty>) -> Self {
                Arg::$variant(value.map(Into::into))
            }
        }
    )*};
}

arg_from!(i64 => BigInt, i32 => Int, f64 => Double, DateTime<Utc> => Time, String => Text, &str => Text, &String => Text);

impl From<bool> for Arg {
    fn from(value: bool) -> Self {
        Arg::Bool(value)
    }
}

/// A row type either database can produce.
pub trait Record: for<'r> FromRow<'r, PgRow> + for<'r> FromRow<'r, SqliteRow> + Send + Unpin {}
impl<T> Record for T where T: for<'r> FromRow<'r, PgRow> + for<'r> FromRow<'r, SqliteRow> + Send + Unpin {}

/// A single column value either database can produce.
pub trait Scalar:
    for<'r> Decode<'r, Postgres> + Type<Postgres> + for<'r> Decode<'r, Sqlite> + Type<Sqlite> + Send + Unpin
{
}
impl<T> Scalar for T where
    T: for<'r> Decode<'r, Postgres> + Type<Postgres> + for<'r> Decode<'r, Sqlite> + Type<Sqlite> + Send + Unpin
{
}

/// A row from either database.
pub enum AnyRow {
    Postgres(PgRow),
    Sqlite(SqliteRow),
}

impl AnyRow {
    pub fn decode<R: Record>(&self) -> Result<R, sqlx::Error> {
        match self {
            AnyRow::Postgres(row) => R::from_row(row),
            AnyRow::Sqlite(row) => R::from_row(row),
        }
    }

    pub fn get<T: Scalar>(&self, column: usize) -> Result<T, sqlx::Error> {
        match self {
            AnyRow::Postgres(row) => row.try_get(column),
            AnyRow::Sqlite(row) => row.try_get(column),
        }
    }
}

/// SQL text with its arguments, in the order of their `$n` placeholders.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    sql: String,
    args: Vec<Arg>,
}

/// A query over fixed SQL; [`Query::bind`] supplies `$1`, `$2`, … in order.
pub fn query(sql: impl Into<String>) -> Query {
    Query {
        sql: sql.into(),
        args: Vec::new(),
    }
}

impl Query {
    /// Binds the next `$n` of fixed SQL.
    pub fn bind(mut self, value: impl Into<Arg>) -> Self {
        self.args.push(value.into());
        self
    }

    /// Appends SQL text (for queries built piece by piece).
    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Appends a placeholder for `value`, numbered after every argument so far.
    pub fn push_bind(&mut self, value: impl Into<Arg>) -> &mut Self {
        self.args.push(value.into());
        let placeholder = format!("${}", self.args.len());
        self.sql.push_str(&placeholder);
        self
    }

    /// Appends `$a, $b, …`, one placeholder per value.
    pub fn push_list<T: Into<Arg>>(&mut self, values: impl IntoIterator<Item = T>) -> &mut Self {
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.push_bind(value);
        }
        self
    }

    /// Runs a statement; returns how many rows it changed.
    pub async fn execute<'c>(self, conn: impl Into<Conn<'c>>) -> Result<u64, sqlx::Error> {
        Ok(match conn.into() {
            Conn::PgPool(pool) => self.postgres().execute(pool).await?.rows_affected(),
            Conn::PgTx(conn) => self.postgres().execute(conn).await?.rows_affected(),
            Conn::SqlitePool(pool) => self.sqlite().execute(pool).await?.rows_affected(),
            Conn::SqliteTx(conn) => self.sqlite().execute(conn).await?.rows_affected(),
        })
    }

    pub async fn fetch_optional_row<'c>(self, conn: impl Into<Conn<'c>>) -> Result<Option<AnyRow>, sqlx::Error> {
        Ok(match conn.into() {
            Conn::PgPool(pool) => self.postgres().fetch_optional(pool).await?.map(AnyRow::Postgres),
            Conn::PgTx(conn) => self.postgres().fetch_optional(conn).await?.map(AnyRow::Postgres),
            Conn::SqlitePool(pool) => self.sqlite().fetch_optional(pool).await?.map(AnyRow::Sqlite),
            Conn::SqliteTx(conn) => self.sqlite().fetch_optional(conn).await?.map(AnyRow::Sqlite),
        })
    }

    pub async fn fetch_all_rows<'c>(self, conn: impl Into<Conn<'c>>) -> Result<Vec<AnyRow>, sqlx::Error> {
        Ok(match conn.into() {
            Conn::PgPool(pool) => wrap(self.postgres().fetch_all(pool).await?, AnyRow::Postgres),
            Conn::PgTx(conn) => wrap(self.postgres().fetch_all(conn).await?, AnyRow::Postgres),
            Conn::SqlitePool(pool) => wrap(self.sqlite().fetch_all(pool).await?, AnyRow::Sqlite),
            Conn::SqliteTx(conn) => wrap(self.sqlite().fetch_all(conn).await?, AnyRow::Sqlite),
        })
    }

    /// The one row the query returns, as `R`; no row is `RowNotFound`.
    pub async fn fetch_one<'c, R: Record>(self, conn: impl Into<Conn<'c>>) -> Result<R, sqlx::Error> {
        self.fetch_optional_row(conn)
            .await?
            .ok_or(sqlx::Error::RowNotFound)?
            .decode()
    }

    pub async fn fetch_optional<'c, R: Record>(self, conn: impl Into<Conn<'c>>) -> Result<Option<R>, sqlx::Error> {
        self.fetch_optional_row(conn).await?.map(|row| row.decode()).transpose()
    }

    pub async fn fetch_all<'c, R: Record>(self, conn: impl Into<Conn<'c>>) -> Result<Vec<R>, sqlx::Error> {
        self.fetch_all_rows(conn).await?.iter().map(AnyRow::decode).collect()
    }

    /// The first column of the one row the query returns.
    pub async fn fetch_scalar<'c, T: Scalar>(self, conn: impl Into<Conn<'c>>) -> Result<T, sqlx::Error> {
        self.fetch_optional_row(conn)
            .await?
            .ok_or(sqlx::Error::RowNotFound)?
            .get(0)
    }

    pub async fn fetch_optional_scalar<'c, T: Scalar>(
        self,
        conn: impl Into<Conn<'c>>,
    ) -> Result<Option<T>, sqlx::Error> {
        self.fetch_optional_row(conn).await?.map(|row| row.get(0)).transpose()
    }

    fn postgres(&self) -> sqlx::query::Query<'_, Postgres, PgArguments> {
        self.bound()
    }

    fn sqlite(&self) -> sqlx::query::Query<'_, Sqlite, SqliteArguments<'_>> {
        self.bound()
    }

    /// The sqlx query for database `DB`, every argument bound in order. The bounds name the
    /// six types an [`Arg`] can hold, once.
    fn bound<'q, DB>(&'q self) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
    where
        DB: sqlx::Database,
        Option<i64>: Encode<'q, DB> + Type<DB>,
        Option<i32>: Encode<'q, DB> + Type<DB>,
        Option<f64>: Encode<'q, DB> + Type<DB>,
        bool: Encode<'q, DB> + Type<DB>,
        Option<&'q str>: Encode<'q, DB> + Type<DB>,
        Option<DateTime<Utc>>: Encode<'q, DB> + Type<DB>,
    {
        self.args.iter().fold(sqlx::query(&self.sql), |query, arg| match arg {
            Arg::BigInt(v) => query.bind(*v),
            Arg::Int(v) => query.bind(*v),
            Arg::Double(v) => query.bind(*v),
            Arg::Bool(v) => query.bind(*v),
            Arg::Text(v) => query.bind(v.as_deref()),
            Arg::Time(v) => query.bind(*v),
        })
    }
}

fn wrap<T>(rows: Vec<T>, into: fn(T) -> AnyRow) -> Vec<AnyRow> {
    rows.into_iter().map(into).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushed_arguments_are_numbered_after_the_bound_ones() {
        let mut query = query("select 1 from t where a = $1").bind(7_i64);
        query.push(" and b in (").push_list(["x", "y"]).push(")");
        assert_eq!(query.sql, "select 1 from t where a = $1 and b in ($2, $3)");
        assert_eq!(
            query.args,
            vec![
                Arg::BigInt(Some(7)),
                Arg::Text(Some("x".into())),
                Arg::Text(Some("y".into()))
            ]
        );
    }

    #[test]
    fn none_binds_a_typed_null() {
        assert_eq!(Arg::from(None::<&str>), Arg::Text(None));
        assert_eq!(Arg::from(None::<i32>), Arg::Int(None));
    }
}
