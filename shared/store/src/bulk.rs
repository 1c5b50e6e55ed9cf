//! PostgreSQL multi-row inserts whose statement text does not change with the number of
//! rows.
//!
//! A multi-row `VALUES` list is a new statement for every batch size, with one parameter per
//! cell for PostgreSQL to parse, type and plan (64 contacts of 12 columns: 768 parameters),
//! and for the driver to prepare when its statement cache has not seen that size. Here each
//! column travels as one array parameter, which `UNNEST` turns back into rows: the text
//! depends only on the table, the columns and the conflict clause, so each connection
//! prepares it once, and arrays arrive in PostgreSQL's binary format (no text to parse).
//! The rows are inserted in the order given (the claim relies on it: of two deliveries of
//! one event, the first claims it). A nullable column's array cannot hold `NULL`s here, so
//! it comes with a second, boolean array that says which of its values are `NULL`. SQLite
//! keeps sea-orm's `VALUES` inserts.

use sea_orm::sea_query::ArrayType;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityName, EntityTrait,
    Iden, Iterable, QueryResult, Statement, Value,
};

/// One column: its values (a `NULL` as its type's default) and, when it is nullable, which
/// of them are `NULL`.
struct ColumnArrays {
    name: String,
    sql_type: &'static str,
    array_type: ArrayType,
    values: Vec<Value>,
    nulls: Option<Vec<Value>>,
}

/// The PostgreSQL element type of a value, and the non-`NULL` value to carry (`None` for a
/// type this module does not insert).
fn element(value: Value) -> Option<(&'static str, ArrayType, Value, bool)> {
    Some(match value {
        Value::String(v) => {
            let null = v.is_none();
            (
                "text",
                ArrayType::String,
                Value::from(v.unwrap_or_default()),
                null,
            )
        }
        Value::BigInt(v) => (
            "int8",
            ArrayType::BigInt,
            Value::from(v.unwrap_or_default()),
            v.is_none(),
        ),
        Value::Int(v) => (
            "int4",
            ArrayType::Int,
            Value::from(v.unwrap_or_default()),
            v.is_none(),
        ),
        Value::Bool(v) => (
            "bool",
            ArrayType::Bool,
            Value::from(v.unwrap_or_default()),
            v.is_none(),
        ),
        Value::Bytes(v) => {
            let null = v.is_none();
            (
                "bytea",
                ArrayType::Bytes,
                Value::from(v.unwrap_or_default()),
                null,
            )
        }
        _ => return None,
    })
}

/// The rows as one array per column: the table, the column names, and the `SELECT` list
/// and `FROM UNNEST(…)` that turn the arrays back into rows, with their parameters.
struct Unnested {
    table: String,
    names: Vec<String>,
    selected: Vec<String>,
    from: String,
    params: Vec<Value>,
}

/// The rows' arrays, with the columns set in the first row (every row must set the same
/// ones). The rows' values move into the arrays (a batch's text and bodies are not copied
/// again).
fn unnest<A: ActiveModelTrait>(rows: Vec<A>) -> Result<Option<Unnested>, DbErr> {
    type Column<A> = <<A as ActiveModelTrait>::Entity as EntityTrait>::Column;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let mut columns: Vec<(Column<A>, ColumnArrays)> = Vec::new();
    for column in Column::<A>::iter() {
        let Some(value) = first.get(column).into_value() else {
            continue;
        };
        let (sql_type, array_type, _, _) = element(value).ok_or_else(|| {
            DbErr::Custom(format!(
                "bulk insert: unsupported type of column {}",
                column.to_string()
            ))
        })?;
        columns.push((
            column,
            ColumnArrays {
                name: column.to_string(),
                sql_type,
                array_type,
                values: Vec::with_capacity(rows.len()),
                nulls: column
                    .def()
                    .is_null()
                    .then(|| Vec::with_capacity(rows.len())),
            },
        ));
    }
    for mut row in rows {
        for (column, arrays) in &mut columns {
            let value = row.take(*column).into_value();
            let (_, _, value, null) = value.and_then(element).ok_or_else(|| {
                DbErr::Custom(format!(
                    "bulk insert: column {} unset in a row",
                    arrays.name
                ))
            })?;
            if null && arrays.nulls.is_none() {
                return Err(DbErr::Custom(format!(
                    "bulk insert: NULL in the non-nullable column {}",
                    arrays.name
                )));
            }
            arrays.values.push(value);
            if let Some(nulls) = &mut arrays.nulls {
                nulls.push(Value::from(null));
            }
        }
    }
    let table = A::Entity::default().table_name().to_owned();
    let mut names = Vec::new();
    let mut selected = Vec::new();
    let mut unnested = Vec::new();
    let mut params = Vec::new();
    for (_, arrays) in columns {
        let i = params.len() + 1;
        names.push(format!("\"{}\"", arrays.name));
        unnested.push(format!("${i}::{}[]", arrays.sql_type));
        params.push(Value::Array(
            arrays.array_type,
            Some(Box::new(arrays.values)),
        ));
        match arrays.nulls {
            Some(nulls) => {
                unnested.push(format!("${}::bool[]", i + 1));
                params.push(Value::Array(ArrayType::Bool, Some(Box::new(nulls))));
                selected.push(format!("CASE WHEN u{} THEN NULL ELSE u{i} END", i + 1));
            }
            None => selected.push(format!("u{i}")),
        }
    }
    let aliases = (1..=params.len())
        .map(|i| format!("u{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(Some(Unnested {
        table,
        names,
        selected,
        from: format!("UNNEST({}) AS u({aliases})", unnested.join(", ")),
        params,
    }))
}

/// `INSERT INTO table (columns) SELECT … FROM UNNEST(arrays) {tail}`.
fn statement<A: ActiveModelTrait>(rows: Vec<A>, tail: &str) -> Result<Option<Statement>, DbErr> {
    let Some(u) = unnest(rows)? else {
        return Ok(None);
    };
    Ok(Some(Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!(
            "INSERT INTO \"{}\" ({}) SELECT {} FROM {} {tail}",
            u.table,
            u.names.join(", "),
            u.selected.join(", "),
            u.from,
        ),
        u.params,
    )))
}

/// Updates `rows` in one statement, each found by its `key` column: every column the rows
/// set (the same in every row, the key among them) takes the row's value. A row whose key
/// matches nothing changes nothing. The caller holds the rows' locks (or wants them taken
/// in the order given).
pub async fn update<A: ActiveModelTrait, C: ConnectionTrait>(
    db: &C,
    rows: Vec<A>,
    key: <A::Entity as EntityTrait>::Column,
) -> Result<(), DbErr> {
    let Some(u) = unnest(rows)? else {
        return Ok(());
    };
    let key = format!("\"{}\"", key.to_string());
    if !u.names.contains(&key) {
        return Err(DbErr::Custom(format!(
            "bulk update: the key {key} is not set"
        )));
    }
    let set = u
        .names
        .iter()
        .filter(|name| **name != key)
        .map(|name| format!("{name} = v.{name}"))
        .collect::<Vec<_>>()
        .join(", ");
    let columns = u
        .selected
        .iter()
        .zip(&u.names)
        .map(|(value, name)| format!("{value} AS {name}"))
        .collect::<Vec<_>>()
        .join(", ");
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!(
            "UPDATE \"{table}\" AS t SET {set} FROM (SELECT {columns} FROM {from}) AS v \
             WHERE t.{key} = v.{key}",
            table = u.table,
            from = u.from,
        ),
        u.params,
    );
    db.execute_raw(statement).await?;
    Ok(())
}

/// Inserts `rows` in one statement; `tail` is its conflict clause, if any.
pub async fn insert<A: ActiveModelTrait, C: ConnectionTrait>(
    db: &C,
    rows: Vec<A>,
    tail: &str,
) -> Result<(), DbErr> {
    if let Some(statement) = statement(rows, tail)? {
        db.execute_raw(statement).await?;
    }
    Ok(())
}

/// Inserts `rows` in one statement and returns what its `RETURNING` tail selects.
pub async fn insert_returning<A: ActiveModelTrait, C: ConnectionTrait>(
    db: &C,
    rows: Vec<A>,
    tail: &str,
) -> Result<Vec<QueryResult>, DbErr> {
    match statement(rows, tail)? {
        Some(statement) => db.query_all_raw(statement).await,
        None => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::entities::{contact, contact_event, processed_delivery};
    use crate::test_db::TestDb;
    use sea_orm::ActiveValue::Set;
    use sea_orm::QueryOrder;

    fn contact(id: &str, first_name: Option<&str>, user_id: Option<&str>) -> contact::Model {
        contact::Model {
            id: id.into(),
            email: format!("{id}@example.com"),
            user_id: user_id.map(str::to_owned),
            first_name: first_name.map(str::to_owned),
            last_name: Some("Lovelace".into()),
            source: None,
            user_group: Some(String::new()),
            subscribed: id.ends_with('1'),
            properties: r#"{"plan":"pro"}"#.into(),
            created_at: 1,
            updated_at: 2,
            last_event_at: 3,
        }
    }

    /// Against PostgreSQL: values, `NULL`s and empty strings come back as they went in, in
    /// order, and a conflict clause works as in a `VALUES` insert.
    #[tokio::test]
    async fn rows_come_back_as_inserted_with_nulls_and_empty_strings_apart() {
        let test = TestDb::postgres().await;
        let db = &test.db;
        let rows = vec![
            contact("ct_1", Some("Ada"), Some("u1")),
            contact("ct_2", Some(""), None),
            contact("ct_3", None, Some("")),
        ];
        let active: Vec<contact::ActiveModel> = rows.iter().cloned().map(Into::into).collect();
        insert(db, active, "").await.unwrap();
        let stored = contact::Entity::find()
            .order_by_asc(contact::Column::Id)
            .all(db)
            .await
            .unwrap();
        assert_eq!(stored, rows);

        // The claim: of two rows with one key, the first is inserted and returned.
        let claim = |key: &str, delivery: &str| processed_delivery::ActiveModel {
            integration_id: Set("int_1".into()),
            idempotency_key: Set(key.into()),
            delivery_id: Set(delivery.into()),
            processed_at: Set(1),
            event_day: Set(86_400_000),
        };
        let returned = insert_returning(
            db,
            vec![
                claim("evt_1", "wh_1"),
                claim("evt_1", "wh_2"),
                claim("evt_2", "wh_3"),
            ],
            "ON CONFLICT (integration_id, idempotency_key, event_day) DO NOTHING \
             RETURNING delivery_id",
        )
        .await
        .unwrap();
        let won: Vec<String> = returned
            .iter()
            .map(|r| r.try_get("", "delivery_id").unwrap())
            .collect();
        assert_eq!(won, ["wh_1", "wh_3"]);
    }

    /// Against PostgreSQL: each row is found by its key and takes the values given, `NULL`s
    /// and empty strings apart; rows not named, and keys that match nothing, change nothing.
    #[tokio::test]
    async fn rows_are_updated_by_key_with_nulls_and_empty_strings_apart() {
        let test = TestDb::postgres().await;
        let db = &test.db;
        let rows = [
            contact("ct_1", Some("Ada"), Some("u1")),
            contact("ct_2", Some(""), None),
            contact("ct_3", None, Some("")),
        ];
        let active: Vec<contact::ActiveModel> = rows.iter().cloned().map(Into::into).collect();
        insert(db, active, "").await.unwrap();
        let changed = [
            contact::Model {
                email: "new@example.com".into(),
                first_name: None,
                user_id: None,
                subscribed: false,
                last_event_at: 30,
                ..contact("ct_1", None, None)
            },
            contact::Model {
                first_name: Some("Grace".into()),
                last_name: Some(String::new()),
                user_id: Some("u2".into()),
                subscribed: true,
                ..contact("ct_2", None, None)
            },
            contact("ct_9", Some("Nobody"), None),
        ];
        let active: Vec<contact::ActiveModel> = changed.iter().cloned().map(Into::into).collect();
        update(db, active, contact::Column::Id).await.unwrap();
        let stored = contact::Entity::find()
            .order_by_asc(contact::Column::Id)
            .all(db)
            .await
            .unwrap();
        assert_eq!(
            stored,
            vec![changed[0].clone(), changed[1].clone(), rows[2].clone()]
        );
        update::<contact::ActiveModel, _>(db, Vec::new(), contact::Column::Id)
            .await
            .unwrap();
        let keyless = contact::ActiveModel {
            email: Set("x@example.com".into()),
            ..Default::default()
        };
        assert!(
            update(db, vec![keyless], contact::Column::Id)
                .await
                .is_err()
        );
    }

    #[test]
    fn rows_travel_as_one_array_per_column_in_order_with_nulls_and_only_the_set_columns() {
        let row = |name: &str, delivery: Option<&str>| contact_event::ActiveModel {
            contact_id: Set("ct_1".into()),
            event_name: Set(name.into()),
            properties: Set(r#"{"plan":"pro"}"#.into()),
            occurred_at: Set(7),
            delivery_id: Set(delivery.map(str::to_owned)),
            created_at: Set(8),
            ..Default::default()
        };
        let rows = [row("stripe:a", Some("wh_1")), row("stripe:b", None)];
        let insert = statement(rows.to_vec(), "ON CONFLICT DO NOTHING")
            .unwrap()
            .unwrap();
        assert_eq!(
            insert.sql,
            "INSERT INTO \"contact_events\" (\"contact_id\", \"event_name\", \"properties\", \
             \"occurred_at\", \"delivery_id\", \"created_at\") SELECT u1, u2, u3, u4, \
             CASE WHEN u6 THEN NULL ELSE u5 END, u7 FROM UNNEST($1::text[], $2::text[], \
             $3::text[], $4::int8[], $5::text[], $6::bool[], $7::int8[]) \
             AS u(u1, u2, u3, u4, u5, u6, u7) ON CONFLICT DO NOTHING"
        );
        let values = insert.values.unwrap().0;
        let array = |i: usize| match &values[i] {
            Value::Array(_, Some(items)) => items.to_vec(),
            other => panic!("an array: {other:?}"),
        };
        assert_eq!(
            array(1),
            vec![Value::from("stripe:a"), Value::from("stripe:b")]
        );
        assert_eq!(array(4), vec![Value::from("wh_1"), Value::from("")]);
        assert_eq!(array(5), vec![Value::from(false), Value::from(true)]);
        assert_eq!(array(6), vec![Value::from(8i64), Value::from(8i64)]);
        assert!(
            statement::<contact_event::ActiveModel>(Vec::new(), "")
                .unwrap()
                .is_none()
        );
        // One row or many, the same text: each connection prepares it once.
        let one = statement(rows[..1].to_vec(), "ON CONFLICT DO NOTHING")
            .unwrap()
            .unwrap();
        assert_eq!(one.sql, insert.sql);
    }
}
