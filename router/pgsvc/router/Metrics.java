package pgsvc.router;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

import pgsvc.pooler.ConsoleTable;
import pgsvc.pooler.Pooler;
import pgsvc.pooler.Snapshots;
import pgsvc.protocol.Messages;

/**
 * What GET /metrics answers. The pooler's series are pgbouncer_exporter's, names and labels alike, read from the
 * same console tables the exporter reads (SHOW POOLS, DATABASES, LISTS, CONFIG, VERSION, STATS_TOTALS), so its
 * dashboards and alerts work unchanged against pgsvc; the router's own series are {@code pgsvc_member_*} and
 * {@code pgsvc_service_*}. Pool and connection tables are snapshots the pools and event loops hand over
 * asynchronously, and the page is built on whichever thread delivers the last one: no thread waits for another.
 */
final class Metrics {
    private static final String NS = "pgbouncer";

    /**
     * A column of a console table mapped to a series: the exporter's metric name, what to divide the value by (1e6
     * for microseconds to seconds) and a help text.
     */
    private record Column(String column, String metric, double divisor, String help) {
    }

    private static final List<Column> POOLS = List.of(
            new Column("cl_active", "client_active_connections", 1,
                    "Clients logged in and not waiting: linked to a server or idle"),
            new Column("cl_active_cancel_req", "client_active_cancel_connections", 1,
                    "Clients whose cancel request was sent and awaits the server"),
            new Column("cl_waiting", "client_waiting_connections", 1, "Clients waiting for a server"),
            new Column("cl_waiting_cancel_req", "client_waiting_cancel_connections", 1,
                    "Clients whose cancel request is not sent yet"),
            new Column("sv_active", "server_active_connections", 1, "Servers linked to a client"),
            new Column("sv_active_cancel", "server_active_cancel_connections", 1,
                    "Servers sending a cancel request"),
            new Column("sv_being_canceled", "server_being_canceled_connections", 1,
                    "Servers kept from going idle until cancel requests for them are done"),
            new Column("sv_idle", "server_idle_connections", 1, "Servers idle and ready for a client"),
            new Column("sv_used", "server_used_connections", 1,
                    "Servers idle past server_check_delay, to be checked before use"),
            new Column("sv_tested", "server_testing_connections", 1,
                    "Servers running server_reset_query or server_check_query"),
            new Column("sv_login", "server_login_connections", 1, "Servers logging in"));

    /** SHOW DATABASES; pgsvc's reserve_pool_size is the exporter's reserve_pool column. */
    private static final List<Column> DATABASES = List.of(
            new Column("pool_size", "pool_size", 1, "Maximum server connections per pool of the database"),
            new Column("reserve_pool_size", "reserve_pool", 1, "Additional server connections the database may use"),
            new Column("max_connections", "max_connections", 1, "Maximum server connections of the database"),
            new Column("current_connections", "current_connections", 1, "Server connections of the database"),
            new Column("paused", "paused", 1, "1 while the database is paused"),
            new Column("disabled", "disabled", 1, "1 while the database is disabled"));

    /**
     * SHOW STATS_TOTALS, the pool statistics (PoolStats): the series appear whenever the console answers that SHOW
     * (see {@link Snapshots#show}), and a column it does not have is left out, so the statistics may grow columns
     * without a change here.
     */
    private static final List<Column> STATS_TOTALS = List.of(
            new Column("server_assignment_count", "server_assignments_total", 1,
                    "Times a server was assigned to a client"),
            new Column("xact_count", "sql_transactions_pooled_total", 1, "SQL transactions pooled"),
            new Column("query_count", "queries_pooled_total", 1, "SQL queries pooled"),
            new Column("bytes_received", "received_bytes_total", 1, "Bytes received from clients"),
            new Column("bytes_sent", "sent_bytes_total", 1, "Bytes sent to clients"),
            new Column("xact_time", "server_in_transaction_seconds_total", 1e6,
                    "Seconds servers spent in transactions"),
            new Column("query_time", "queries_duration_seconds_total", 1e6, "Seconds servers spent running queries"),
            new Column("wait_time", "client_wait_seconds_total", 1e6, "Seconds clients spent waiting for a server"),
            new Column("client_parse_count", "client_parses_total", 1, "Parse messages received from clients"),
            new Column("server_parse_count", "server_parses_total", 1, "Parse messages sent to servers"),
            new Column("bind_count", "binds_total", 1, "Bind messages received from clients"));

    /** SHOW LISTS rows as the exporter names them; the other rows are not exported. */
    private static final Map<String, String> LISTS = Map.ofEntries(
            Map.entry("databases", "databases"), Map.entry("users", "users"), Map.entry("pools", "pools"),
            Map.entry("free_clients", "free_clients"), Map.entry("used_clients", "used_clients"),
            Map.entry("login_clients", "login_clients"), Map.entry("free_servers", "free_servers"),
            Map.entry("used_servers", "used_servers"), Map.entry("dns_names", "cached_dns_names"),
            Map.entry("dns_zones", "cached_dns_zones"), Map.entry("dns_queries", "in_flight_dns_queries"));

    /** The console tables a page is made of; one the console does not have (null) is left out. */
    private static final List<String> SHOWS = List.of("POOLS", "LISTS", "VERSION", "CONFIG", "DATABASES",
            "STATS_TOTALS");

    private final Pooler pooler;
    private final Router router;

    /** {@code router} is null when there are no [hosts]. */
    Metrics(Pooler pooler, Router router) {
        this.pooler = pooler;
        this.router = router;
    }

    /** Builds the page from fresh snapshots; {@code done} gets it, or {@code failed} the reason it could not be. */
    void scrape(Consumer<String> done, Consumer<RuntimeException> failed) {
        collect(0, new ConcurrentHashMap<>(), done, failed);
    }

    /** Takes the SHOWs one after another, each on whatever thread answered the one before. */
    private void collect(int next, Map<String, ConsoleTable> tables, Consumer<String> done,
            Consumer<RuntimeException> failed) {
        if (next == SHOWS.size()) {
            String page;
            try {
                page = render(tables);
            } catch (RuntimeException e) {
                failed.accept(e);
                return;
            }
            done.accept(page);
            return;
        }
        String what = SHOWS.get(next);
        AtomicBoolean answered = new AtomicBoolean();
        try {
            Snapshots.show(pooler, what, table -> {
                answered.set(true);
                if (table != null) {
                    tables.put(what, table);
                }
                collect(next + 1, tables, done, failed);
            });
        } catch (RuntimeException e) {
            // A SHOW that failed before answering: the scrape fails rather than waiting for an answer forever.
            if (!answered.get()) {
                failed.accept(e);
            }
        }
    }

    private String render(Map<String, ConsoleTable> tables) {
        PrometheusText text = new PrometheusText();
        text.family(NS + "_up", "gauge", "1 when pgsvc answered this scrape").sample(1);
        table(tables.get("VERSION"), (t, row) -> text.family(NS + "_version_info", "gauge",
                "The version string pgsvc gives as PgBouncer").sample(1, "version", t.get(row, "version")));
        lists(text, tables.get("LISTS"));
        config(text, tables.get("CONFIG"));
        columns(text, NS + "_databases_", "gauge", tables.get("DATABASES"), DATABASES,
                List.of("name", "host", "port", "database", "force_user", "pool_mode"));
        columns(text, NS + "_stats_totals_", "counter", tables.get("STATS_TOTALS"), STATS_TOTALS,
                List.of("database"));
        columns(text, NS + "_pools_", "gauge", tables.get("POOLS"), POOLS, List.of("database", "user"));
        maxwait(text, tables.get("POOLS"));
        if (router != null) {
            RouterMetrics.write(text, router, pooler);
        }
        return text.render();
    }

    private static void lists(PrometheusText text, ConsoleTable lists) {
        table(lists, (t, row) -> {
            String name = LISTS.get(t.get(row, "list"));
            if (name != null) {
                text.family(NS + "_" + name, "gauge", "SHOW LISTS: " + t.get(row, "list"))
                        .sample(number(t.get(row, "items")));
            }
        });
    }

    private static void config(PrometheusText text, ConsoleTable config) {
        Map<String, String> values = new HashMap<>();
        table(config, (t, row) -> values.put(t.get(row, "key"), t.get(row, "value")));
        String maxClients = values.get("max_client_conn");
        if (maxClients != null) {
            text.family(NS + "_config_max_client_connections", "gauge", "max_client_conn")
                    .sample(number(maxClients));
        }
        String maxUser = values.get("max_user_connections");
        if (maxUser != null) {
            text.family(NS + "_config_max_user_connections", "gauge", "max_user_connections")
                    .sample(number(maxUser));
        }
    }

    /** One family per mapped column, one sample per row, labelled by the label columns, as the exporter does. */
    private static void columns(PrometheusText text, String prefix, String type, ConsoleTable table,
            List<Column> mapped, List<String> labelColumns) {
        if (table == null) {
            return;
        }
        Rows t = new Rows(table);
        for (Column c : mapped) {
            if (!t.has(c.column())) {
                continue;
            }
            PrometheusText.Family f = text.family(prefix + c.metric(), type, c.help());
            for (List<String> row : table.rows()) {
                String[] labels = new String[labelColumns.size() * 2];
                for (int i = 0; i < labelColumns.size(); i++) {
                    labels[2 * i] = labelColumns.get(i);
                    labels[2 * i + 1] = t.has(labelColumns.get(i)) ? t.get(row, labelColumns.get(i)) : "";
                }
                f.sample(number(t.get(row, c.column())) / c.divisor(), labels);
            }
        }
    }

    /** The oldest waiting client's wait, seconds and microseconds together. */
    private static void maxwait(PrometheusText text, ConsoleTable pools) {
        PrometheusText.Family f = text.family(NS + "_pools_client_maxwait_seconds", "gauge",
                "Seconds the oldest waiting client of the pool has waited");
        table(pools, (t, row) -> f.sample(number(t.get(row, "maxwait")) + number(t.get(row, "maxwait_us")) / 1e6,
                "database", t.get(row, "database"), "user", t.get(row, "user")));
    }

    private interface RowVisitor {
        void visit(Rows table, List<String> row);
    }

    private static void table(ConsoleTable table, RowVisitor visitor) {
        if (table == null) {
            return;
        }
        Rows t = new Rows(table);
        for (List<String> row : table.rows()) {
            visitor.visit(t, row);
        }
    }

    /** A console table's values by column name. */
    private static final class Rows {
        private final Map<String, Integer> index = new HashMap<>();

        Rows(ConsoleTable table) {
            List<Messages.Column> columns = table.columns();
            for (int i = 0; i < columns.size(); i++) {
                index.put(columns.get(i).name(), i);
            }
        }

        boolean has(String column) {
            return index.containsKey(column);
        }

        String get(List<String> row, String column) {
            Integer i = index.get(column);
            if (i == null) {
                throw new IllegalStateException("console table has no column " + column);
            }
            return row.get(i);
        }
    }

    /** A console value as a number; NULL is NaN, as the exporter reads it. */
    static double number(String value) {
        if (value == null) {
            return Double.NaN;
        }
        return Double.parseDouble(value.trim());
    }
}
