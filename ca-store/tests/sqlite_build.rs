//! The bundled SQLite is built as `.cargo/config.toml` says (issue 10):
//! without memory statistics (a process-wide lock on every allocation) and
//! with the query planner's stability guarantee (without it, under STAT4,
//! diesel's cached statements with `LIMIT ?` were compiled again on every
//! run). A build that lost the flags, or linked another SQLite, fails here.

use diesel::prelude::*;

#[derive(QueryableByName)]
struct CompileOption {
    #[diesel(sql_type = diesel::sql_types::Text)]
    compile_options: String,
}

#[test]
fn the_bundled_sqlite_has_the_configured_options() {
    let mut conn = SqliteConnection::establish(":memory:").unwrap();
    let options: Vec<String> =
        diesel::sql_query("SELECT compile_options FROM pragma_compile_options")
            .load::<CompileOption>(&mut conn)
            .unwrap()
            .into_iter()
            .map(|o| o.compile_options)
            .collect();
    for wanted in ["DEFAULT_MEMSTATUS=0", "ENABLE_QPSG", "ENABLE_STAT4"] {
        assert!(
            options.iter().any(|o| o == wanted),
            "{wanted} missing from {options:?}"
        );
    }
}
