package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.postgresql.PGStatement;

import pgsvc.testing.Await;
import pgsvc.testing.PgCluster;
import pgsvc.testing.PgClusterExtension;

/**
 * PgBouncer's statistics as exporters read them: SHOW STATS, STATS_TOTALS, STATS_AVERAGES and TOTALS with 1.25's
 * columns, counts that follow a known mix of transactions exactly, wait time only for clients that waited, averages
 * over a short stats_period, pgsvc's SHOW LATENCY, and the log_stats line in the logfile.
 */
@ExtendWith(PgClusterExtension.class)
class StatsTest {
    private static final Duration DEADLINE = Duration.ofSeconds(30);
    private static final String USER = "pgsvc_md5";
    private static final String PASSWORD = "md5pass";
    private static PoolerFixture pgsvc;

    @BeforeAll
    static void start() {
        Map<String, String> settings = PoolerFixture.defaults();
        settings.put("admin_users", "postgres");
        settings.put("stats_period", "1");
        settings.put("log_stats", "0");
        // An idle server is never re-checked during a test, so no client waits for a check it did not ask for.
        settings.put("server_check_delay", "3600");
        int primary = PgCluster.shared().primary().port();
        String at = " = host=127.0.0.1 port=" + primary + " dbname=pgsvc";
        pgsvc = PoolerFixture.start(settings, "statsdb" + at + " pool_size=1\n" + "waitdb" + at + " pool_size=1\n"
                + "avgdb" + at + "\n");
    }

    @AfterAll
    static void stop() {
        pgsvc.close();
    }

    // ---- columns ------------------------------------------------------------------------------------------------

    private static final List<String> STATS_TOTALS = List.of("database", "server_assignment_count", "xact_count",
            "query_count", "bytes_received", "bytes_sent", "xact_time", "query_time", "wait_time",
            "client_parse_count", "server_parse_count", "bind_count");

    @Test
    void showsHavePgBouncersColumnsAndTypes() throws Exception {
        List<String> stats = List.of("database", "total_server_assignment_count", "total_xact_count",
                "total_query_count", "total_received", "total_sent", "total_xact_time", "total_query_time",
                "total_wait_time", "total_client_parse_count", "total_server_parse_count", "total_bind_count",
                "avg_server_assignment_count", "avg_xact_count", "avg_query_count", "avg_recv", "avg_sent",
                "avg_xact_time", "avg_query_time", "avg_wait_time", "avg_client_parse_count",
                "avg_server_parse_count", "avg_bind_count");
        assertEquals(columns(stats, "numeric"), columns("SHOW STATS"));
        assertEquals(columns(STATS_TOTALS, "numeric"), columns("SHOW STATS_TOTALS"));
        assertEquals(columns(List.of("database", "server_assignment_count", "xact_count", "query_count",
                "bytes_received", "bytes_sent", "xact_time", "query_time", "wait_time", "avg_client_parse_count",
                "avg_server_parse_count", "avg_bind_count"), "numeric"), columns("SHOW STATS_AVERAGES"));
        assertEquals(List.of("name:text", "value:numeric"), columns("SHOW TOTALS"));
        assertEquals(List.of("database:text", "user:text", "span:text", "measure:text", "count:int8", "p50_us:int8",
                "p90_us:int8", "p99_us:int8", "p99_9_us:int8", "max_us:int8"), columns("SHOW LATENCY"));

        List<String> names = new ArrayList<>();
        for (String prefix : List.of("total_", "avg_")) {
            for (String n : List.of("server_assignment_count", "xact_count", "query_count", "client_bytes",
                    "server_bytes", "xact_time", "query_time", "wait_time", "ps_client_parse_count",
                    "ps_server_parse_count", "ps_bind_count")) {
                names.add(prefix + n);
            }
        }
        List<String> rows = new ArrayList<>();
        try (Connection c = ConsoleQueries.console(pgsvc); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SHOW TOTALS")) {
            while (rs.next()) {
                rows.add(rs.getString("name"));
            }
        }
        assertEquals(names, rows);
        assertTrue(row("SHOW STATS", "pgbouncer") != null, "the console's own database has a row, as PgBouncer's");
    }

    /** The first column is text, the others of {@code type}; as "name:type". */
    private static List<String> columns(List<String> names, String type) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < names.size(); i++) {
            out.add(names.get(i) + ":" + (i == 0 ? "text" : type));
        }
        return out;
    }

    private static List<String> columns(String show) throws SQLException {
        try (Connection c = ConsoleQueries.console(pgsvc); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery(show)) {
            ResultSetMetaData md = rs.getMetaData();
            List<String> out = new ArrayList<>();
            for (int i = 1; i <= md.getColumnCount(); i++) {
                out.add(md.getColumnName(i) + ":" + md.getColumnTypeName(i));
            }
            return out;
        }
    }

    // ---- counts -------------------------------------------------------------------------------------------------

    @Test
    void countsFollowAKnownMixOfTransactions() throws Exception {
        int simple = 5;
        int multi = 3;
        int prepared = 4;
        // One client, so that each transaction finds the pool's one server back in the pool.
        try (Connection c = connect("statsdb", "extended"); Statement st = c.createStatement()) {
            st.execute("SELECT 1");
            Map<String, Long> before = row("SHOW STATS_TOTALS", "statsdb");

            for (int i = 0; i < simple; i++) {
                st.execute("SELECT 1");
            }
            // Three requests, each ending in its own Sync and ReadyForQuery: three queries, one transaction.
            for (int i = 0; i < multi; i++) {
                st.execute("BEGIN");
                st.execute("SELECT 2");
                st.execute("COMMIT");
            }
            // A named statement (prepareThreshold=1 for it alone): one Parse from the client, sent once to the
            // pool's one server, and a Bind per execution.
            try (PreparedStatement ps = c.prepareStatement("SELECT ?::int")) {
                ps.unwrap(PGStatement.class).setPrepareThreshold(1);
                for (int i = 0; i < prepared; i++) {
                    ps.setInt(1, i);
                    try (ResultSet rs = ps.executeQuery()) {
                        assertTrue(rs.next());
                        assertEquals(i, rs.getInt(1));
                    }
                }
            }
            Map<String, Long> after = row("SHOW STATS_TOTALS", "statsdb");

            assertEquals(simple + multi + prepared, delta(before, after, "xact_count"));
            assertEquals(simple + 3 * multi + prepared, delta(before, after, "query_count"));
            assertEquals(simple + multi + prepared, delta(before, after, "server_assignment_count"));
            assertEquals(1, delta(before, after, "client_parse_count"));
            assertEquals(1, delta(before, after, "server_parse_count"));
            assertEquals(prepared, delta(before, after, "bind_count"));
            assertTrue(delta(before, after, "bytes_received") > 0, after::toString);
            assertTrue(delta(before, after, "bytes_sent") > 0, after::toString);
            assertTrue(delta(before, after, "xact_time") > 0, after::toString);
            assertTrue(delta(before, after, "query_time") > 0, after::toString);
            assertEquals(0, delta(before, after, "wait_time"), "a server was free for every transaction");

            // SHOW STATS says the same in its total_ columns, and SHOW TOTALS counts at least this database.
            Map<String, Long> stats = row("SHOW STATS", "statsdb");
            for (String column : STATS_TOTALS.subList(1, STATS_TOTALS.size())) {
                String name = "total_" + column.replace("bytes_received", "received").replace("bytes_sent", "sent");
                assertEquals(after.get(column), stats.get(name), name);
            }
            assertTrue(totals().get("total_xact_count") >= after.get("xact_count"));
        }
    }

    @Test
    void waitTimeCountsOnlyClientsThatWaited() throws Exception {
        try (Connection a = connect("waitdb", "simple"); Statement sa = a.createStatement()) {
            sa.execute("SELECT 1");
            Map<String, Long> before = row("SHOW STATS_TOTALS", "waitdb");
            for (int i = 0; i < 3; i++) {
                sa.execute("SELECT 1");
            }
            Map<String, Long> alone = row("SHOW STATS_TOTALS", "waitdb");
            assertEquals(0, delta(before, alone, "wait_time"), "one client never waits for the pool's server");

            sa.execute("BEGIN");
            CompletableFuture<Integer> waiter = CompletableFuture.supplyAsync(() -> {
                try (Connection b = connect("waitdb", "simple"); Statement sb = b.createStatement();
                     ResultSet rs = sb.executeQuery("SELECT 42")) {
                    rs.next();
                    return rs.getInt(1);
                } catch (SQLException e) {
                    throw new IllegalStateException(e);
                }
            });
            Await.until(DEADLINE, "the second client waits for the pool's only server",
                    () -> ConsoleQueries.poolColumn(pgsvc, "waitdb", USER, "cl_waiting") == 1);
            sa.execute("COMMIT");
            assertEquals(42, waiter.get(DEADLINE.toSeconds(), TimeUnit.SECONDS));

            Map<String, Long> after = row("SHOW STATS_TOTALS", "waitdb");
            assertTrue(delta(alone, after, "wait_time") > 0, after::toString);
            assertEquals(2, delta(alone, after, "server_assignment_count"));
            assertEquals(2, delta(alone, after, "xact_count"));
        }
    }

    // ---- averages and latency -----------------------------------------------------------------------------------

    @Test
    void averagesAndLatencyFollowTheStatsPeriod() throws Exception {
        try (Connection c = connect("avgdb", "simple"); Statement st = c.createStatement()) {
            Await.until(DEADLINE, "averages over the last stats_period show the traffic", () -> {
                st.execute("SELECT 1");
                Map<String, Long> avg = row("SHOW STATS_AVERAGES", "avgdb");
                Map<String, Long> stats = row("SHOW STATS", "avgdb");
                return avg.get("xact_count") > 0 && avg.get("query_count") > 0 && avg.get("bytes_received") > 0
                        && avg.get("bytes_sent") > 0 && avg.get("xact_time") > 0 && avg.get("query_time") > 0
                        && stats.get("avg_xact_count") > 0 && stats.get("avg_query_time") > 0;
            });
            Await.until(DEADLINE, "SHOW LATENCY has the last stats_period's transactions", () -> {
                st.execute("SELECT 1");
                return latency("last_period", "xact").get("count") > 0;
            });

            // Quiet now: since start, the histograms hold exactly what the counters count.
            Map<String, Long> totals = row("SHOW STATS_TOTALS", "avgdb");
            Map<String, Long> xact = latency("since_start", "xact");
            Map<String, Long> query = latency("since_start", "query");
            Map<String, Long> wait = latency("since_start", "wait");
            assertEquals(totals.get("xact_count"), xact.get("count"));
            assertEquals(totals.get("query_count"), query.get("count"));
            assertEquals(totals.get("server_assignment_count"), wait.get("count"));
            for (Map<String, Long> m : List.of(xact, query, wait, latency("last_period", "xact"))) {
                assertTrue(m.get("p50_us") <= m.get("p90_us") && m.get("p90_us") <= m.get("p99_us")
                        && m.get("p99_us") <= m.get("p99_9_us") && m.get("p99_9_us") <= m.get("max_us"), m::toString);
            }
            assertTrue(xact.get("max_us") > 0, xact::toString);
        }
        Await.until(DEADLINE, "the averages fall back to zero once the database is quiet for a period",
                () -> row("SHOW STATS_AVERAGES", "avgdb").get("xact_count") == 0);
        assertEquals(0, row("SHOW STATS", "avgdb").get("avg_xact_count"));
    }

    private static Map<String, Long> latency(String span, String measure) throws SQLException {
        try (Connection c = ConsoleQueries.console(pgsvc); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SHOW LATENCY")) {
            while (rs.next()) {
                if (rs.getString("database").equals("avgdb") && rs.getString("user").equals(USER)
                        && rs.getString("span").equals(span) && rs.getString("measure").equals(measure)) {
                    Map<String, Long> m = new HashMap<>();
                    for (String col : List.of("count", "p50_us", "p90_us", "p99_us", "p99_9_us", "max_us")) {
                        m.put(col, rs.getLong(col));
                    }
                    return m;
                }
            }
        }
        throw new AssertionError("SHOW LATENCY has no " + span + " " + measure + " row for avgdb");
    }

    // ---- log_stats ----------------------------------------------------------------------------------------------

    /** PgBouncer's line, with its log prefix: time, zone, [pid], LOG. */
    private static final Pattern STATS_LINE = Pattern.compile("(?m)^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{3} "
            + "\\S+ \\[\\d+\\] LOG stats: (\\d+) xacts/s, (\\d+) queries/s, \\d+ client parses/s, "
            + "\\d+ server parses/s, \\d+ binds/s, in (\\d+) B/s, out (\\d+) B/s, xact \\d+ us, query \\d+ us, "
            + "wait \\d+ us$");

    @Test
    void logStatsWritesPgBouncersLineToTheLogfile() throws Exception {
        try (PgsvcProcess p = PgsvcProcess.start("stats_period = 1\n");
             Connection c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + p.port()
                     + "/pgsvc?prepareThreshold=0", USER, PASSWORD); Statement st = c.createStatement()) {
            Await.until(DEADLINE, "a stats line counts the traffic", () -> {
                st.execute("SELECT 1");
                Matcher m = STATS_LINE.matcher(p.log());
                while (m.find()) {
                    if (Long.parseLong(m.group(1)) > 0 && Long.parseLong(m.group(2)) > 0
                            && Long.parseLong(m.group(3)) > 0 && Long.parseLong(m.group(4)) > 0) {
                        return true;
                    }
                }
                return false;
            });
        }
    }


    // ---- helpers ------------------------------------------------------------------------------------------------

    /** A pgjdbc client of {@code db}: "simple" sends a Query per statement, "extended" unnamed statements. */
    private static Connection connect(String db, String mode) throws SQLException {
        Properties props = new Properties();
        if (mode.equals("simple")) {
            props.setProperty("preferQueryMode", "simple");
        }
        return pgsvc.connect(db, USER, PASSWORD, props);
    }

    /** One database's row of a SHOW, numeric columns by name; null if the database has no row. */
    private static Map<String, Long> row(String show, String database) throws SQLException {
        try (Connection c = ConsoleQueries.console(pgsvc); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery(show)) {
            ResultSetMetaData md = rs.getMetaData();
            while (rs.next()) {
                if (rs.getString("database").equals(database)) {
                    Map<String, Long> m = new HashMap<>();
                    for (int i = 2; i <= md.getColumnCount(); i++) {
                        m.put(md.getColumnName(i), rs.getLong(i));
                    }
                    return m;
                }
            }
            return null;
        }
    }

    private static Map<String, Long> totals() throws SQLException {
        Map<String, Long> m = new HashMap<>();
        try (Connection c = ConsoleQueries.console(pgsvc); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SHOW TOTALS")) {
            while (rs.next()) {
                m.put(rs.getString("name"), rs.getLong("value"));
            }
        }
        return m;
    }

    private static long delta(Map<String, Long> before, Map<String, Long> after, String column) {
        return after.get(column) - before.get(column);
    }
}
