package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import pgsvc.testing.Await;
import pgsvc.testing.PgCluster;
import pgsvc.testing.PgClusterExtension;

/**
 * GET /metrics under a known load, read with a strict parser of Prometheus's text format: pgbouncer_exporter's
 * series, names and labels, for what the pools hold, and the router's per-member and per-service gauges.
 */
@ExtendWith(PgClusterExtension.class)
class MetricsTest {
    private static final Duration DEADLINE = Duration.ofSeconds(60);
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

    /** Families pgbouncer_exporter publishes from SHOW POOLS, DATABASES, LISTS, CONFIG and VERSION. */
    private static final List<String> EXPORTER_FAMILIES = List.of("pgbouncer_up", "pgbouncer_version_info",
            "pgbouncer_databases", "pgbouncer_users", "pgbouncer_pools", "pgbouncer_free_clients",
            "pgbouncer_used_clients", "pgbouncer_login_clients", "pgbouncer_free_servers", "pgbouncer_used_servers",
            "pgbouncer_cached_dns_names", "pgbouncer_cached_dns_zones", "pgbouncer_in_flight_dns_queries",
            "pgbouncer_config_max_client_connections", "pgbouncer_config_max_user_connections",
            "pgbouncer_databases_pool_size", "pgbouncer_databases_reserve_pool", "pgbouncer_databases_max_connections",
            "pgbouncer_databases_current_connections", "pgbouncer_databases_paused", "pgbouncer_databases_disabled",
            "pgbouncer_pools_client_active_connections", "pgbouncer_pools_client_active_cancel_connections",
            "pgbouncer_pools_client_waiting_connections", "pgbouncer_pools_client_waiting_cancel_connections",
            "pgbouncer_pools_server_active_connections", "pgbouncer_pools_server_active_cancel_connections",
            "pgbouncer_pools_server_being_canceled_connections", "pgbouncer_pools_server_idle_connections",
            "pgbouncer_pools_server_used_connections", "pgbouncer_pools_server_testing_connections",
            "pgbouncer_pools_server_login_connections", "pgbouncer_pools_client_maxwait_seconds");

    // ---- a strict reader of the text exposition format 0.0.4 -----------------------------------------------------

    record Sample(String name, Map<String, String> labels, double value) {
    }

    record Family(String name, String type, String help, List<Sample> samples) {
        /** The value of the one sample whose labels include all of {@code match}. */
        double value(Map<String, String> match) {
            List<Sample> hits = new ArrayList<>();
            for (Sample s : samples) {
                if (s.labels().entrySet().containsAll(match.entrySet())) {
                    hits.add(s);
                }
            }
            assertEquals(1, hits.size(), name + match + " in " + samples);
            return hits.get(0).value();
        }
    }

    /**
     * Parses a page as Prometheus's text format defines it and fails on anything the format does not allow: bad
     * names, bad escapes, a TYPE after the family's samples or given twice, a family split in two, a series twice, a
     * value that is no float, a page not ending in a line feed. HELP and TYPE are required of every family here,
     * since pgsvc writes both. (io.prometheus has no parser for this format in Java, only writers.)
     */
    static final class ExpositionParser {
        private static final Pattern METRIC = Pattern.compile("[a-zA-Z_:][a-zA-Z0-9_:]*");
        private static final Pattern LABEL = Pattern.compile("[a-zA-Z_][a-zA-Z0-9_]*");
        private static final Pattern FLOAT = Pattern.compile(
                "[+-]?(?:\\d+\\.?\\d*(?:[eE][+-]?\\d+)?|\\.\\d+(?:[eE][+-]?\\d+)?)");
        private static final Set<String> TYPES = Set.of("counter", "gauge", "histogram", "summary", "untyped");

        private final Map<String, String> types = new LinkedHashMap<>();
        private final Map<String, String> helps = new LinkedHashMap<>();
        private final Map<String, List<Sample>> samples = new LinkedHashMap<>();
        private final Set<String> closed = new HashSet<>();
        private final Set<String> series = new HashSet<>();
        private String current;
        private int line;

        static Map<String, Family> parse(String page) {
            ExpositionParser p = new ExpositionParser();
            if (!page.isEmpty() && !page.endsWith("\n")) {
                throw p.error("the page does not end with a line feed");
            }
            for (String l : page.split("\n", -1)) {
                p.line++;
                p.line(l);
            }
            Map<String, Family> out = new TreeMap<>();
            for (String name : p.types.keySet()) {
                if (!p.helps.containsKey(name)) {
                    throw p.error("no HELP for " + name);
                }
                out.put(name, new Family(name, p.types.get(name), p.helps.get(name),
                        p.samples.getOrDefault(name, List.of())));
            }
            for (String name : p.samples.keySet()) {
                if (!p.types.containsKey(name)) {
                    throw p.error("samples of " + name + " without a TYPE");
                }
            }
            return out;
        }

        private IllegalArgumentException error(String what) {
            return new IllegalArgumentException("line " + line + ": " + what);
        }

        private void line(String l) {
            if (l.isEmpty()) {
                return;
            }
            if (l.startsWith("#")) {
                comment(l);
                return;
            }
            sample(l);
        }

        private void comment(String l) {
            String[] parts = l.split("[ \t]+", 4);
            if (parts.length < 3 || !parts[0].equals("#") || !(parts[1].equals("HELP") || parts[1].equals("TYPE"))) {
                return;
            }
            String name = parts[2];
            if (!METRIC.matcher(name).matches()) {
                throw error("bad metric name " + name);
            }
            enter(name);
            String rest = parts.length > 3 ? parts[3] : "";
            if (parts[1].equals("TYPE")) {
                if (types.containsKey(name)) {
                    throw error("second TYPE for " + name);
                }
                if (samples.containsKey(name)) {
                    throw error("TYPE of " + name + " after its samples");
                }
                if (!TYPES.contains(rest)) {
                    throw error("unknown type " + rest);
                }
                types.put(name, rest);
            } else {
                if (helps.containsKey(name)) {
                    throw error("second HELP for " + name);
                }
                helps.put(name, unescapeHelp(rest));
            }
        }

        /** A family's lines must come together: once another family started, its name may not come back. */
        private void enter(String family) {
            if (family.equals(current)) {
                return;
            }
            if (closed.contains(family)) {
                throw error("family " + family + " is split into two groups");
            }
            if (current != null) {
                closed.add(current);
            }
            current = family;
        }

        private void sample(String l) {
            int i = 0;
            while (i < l.length() && (Character.isLetterOrDigit(l.charAt(i)) || l.charAt(i) == '_'
                    || l.charAt(i) == ':')) {
                i++;
            }
            String name = l.substring(0, i);
            if (!METRIC.matcher(name).matches()) {
                throw error("bad metric name in " + l);
            }
            String type = types.get(name);
            if (type == null) {
                throw error("sample of " + name + " before its TYPE");
            }
            if (!type.equals("counter") && !type.equals("gauge") && !type.equals("untyped")) {
                throw error("pgsvc writes no " + type);
            }
            enter(name);
            Map<String, String> labels = new TreeMap<>();
            if (i < l.length() && l.charAt(i) == '{') {
                i = labels(l, i + 1, labels);
            }
            String[] rest = l.substring(i).trim().split("[ \t]+");
            if (l.substring(i).isEmpty() || !Character.isWhitespace(l.charAt(i)) || rest.length < 1
                    || rest.length > 2) {
                throw error("expected a value (and maybe a timestamp) after the series in " + l);
            }
            double value = value(rest[0]);
            if (rest.length == 2 && !rest[1].matches("-?\\d+")) {
                throw error("bad timestamp " + rest[1]);
            }
            if (!series.add(name + labels)) {
                throw error("series " + name + labels + " given twice");
            }
            samples.computeIfAbsent(name, k -> new ArrayList<>()).add(new Sample(name, labels, value));
        }

        /** Reads {@code name="value",...}} from just after the brace; returns the index after the closing brace. */
        private int labels(String l, int i, Map<String, String> out) {
            while (true) {
                if (i >= l.length()) {
                    throw error("unterminated label set in " + l);
                }
                if (l.charAt(i) == '}') {
                    return i + 1;
                }
                int eq = l.indexOf('=', i);
                if (eq < 0) {
                    throw error("label without a value in " + l);
                }
                String label = l.substring(i, eq);
                if (!LABEL.matcher(label).matches() || label.startsWith("__")) {
                    throw error("bad label name '" + label + "'");
                }
                if (eq + 1 >= l.length() || l.charAt(eq + 1) != '"') {
                    throw error("label value of " + label + " is not quoted");
                }
                StringBuilder value = new StringBuilder();
                int j = eq + 2;
                while (true) {
                    if (j >= l.length()) {
                        throw error("unterminated label value in " + l);
                    }
                    char c = l.charAt(j);
                    if (c == '"') {
                        break;
                    }
                    if (c == '\\') {
                        char e = j + 1 < l.length() ? l.charAt(j + 1) : 0;
                        switch (e) {
                            case '\\' -> value.append('\\');
                            case '"' -> value.append('"');
                            case 'n' -> value.append('\n');
                            default -> throw error("bad escape \\" + e + " in a label value");
                        }
                        j += 2;
                    } else {
                        value.append(c);
                        j++;
                    }
                }
                if (out.put(label, value.toString()) != null) {
                    throw error("label " + label + " given twice");
                }
                i = j + 1;
                if (i < l.length() && l.charAt(i) == ',') {
                    i++;
                } else if (i >= l.length() || l.charAt(i) != '}') {
                    throw error("expected , or } after label " + label);
                }
            }
        }

        private double value(String v) {
            switch (v) {
                case "NaN":
                    return Double.NaN;
                case "+Inf":
                    return Double.POSITIVE_INFINITY;
                case "-Inf":
                    return Double.NEGATIVE_INFINITY;
                default:
                    if (!FLOAT.matcher(v).matches()) {
                        throw error("bad value " + v);
                    }
                    return Double.parseDouble(v);
            }
        }

        private String unescapeHelp(String s) {
            StringBuilder out = new StringBuilder();
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                if (c != '\\') {
                    out.append(c);
                    continue;
                }
                char e = i + 1 < s.length() ? s.charAt(i + 1) : 0;
                switch (e) {
                    case '\\' -> out.append('\\');
                    case 'n' -> out.append('\n');
                    default -> throw error("bad escape \\" + e + " in HELP");
                }
                i++;
            }
            return out.toString();
        }
    }

    // ---- helpers ------------------------------------------------------------------------------------------------

    private static HttpResponse<String> get(int port, String path) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .timeout(Duration.ofSeconds(30)).GET().build(), HttpResponse.BodyHandlers.ofString());
    }

    private static Map<String, Family> scrape(int port) throws Exception {
        HttpResponse<String> r = get(port, "/metrics");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals("text/plain; version=0.0.4; charset=utf-8", r.headers().firstValue("content-type").orElse(""));
        return ExpositionParser.parse(r.body());
    }

    private static String metricsSection(int port) {
        return "\n[pgsvc]\nmetrics_addr = 127.0.0.1\nmetrics_port = " + port + "\n";
    }

    private static double pool(Map<String, Family> page, String family) {
        return page.get(family).value(Map.of("database", "pgsvc", "user", PgCluster.MD5_USER));
    }

    private static Connection inTransaction(PoolerFixture p) throws Exception {
        Connection c = p.connect(PgCluster.MD5_USER, PgCluster.MD5_PASSWORD);
        c.setAutoCommit(false);
        try (Statement st = c.createStatement()) {
            st.execute("SELECT 1");
        }
        return c;
    }

    // ---- tests --------------------------------------------------------------------------------------------------

    @Test
    void theExporterSeriesDescribeThePoolsUnderLoad() throws Exception {
        int metricsPort = PoolerFixture.freePort();
        Map<String, String> settings = PoolerFixture.defaults();
        settings.put("default_pool_size", "2");
        settings.put("max_client_conn", "77");
        try (PoolerFixture p = PoolerFixture.builder(settings).sections(metricsSection(metricsPort)).start();
             Connection a = inTransaction(p);
             Connection b = inTransaction(p);
             WireClient waiting = WireClient.connect(p.port(), PgCluster.MD5_USER, PgCluster.MD5_PASSWORD)) {
            // Both servers of the pool are in transactions, so a third client's query has to wait.
            waiting.sendQuery("SELECT 42");
            Await.until(DEADLINE, "the third client waits", () ->
                    pool(scrape(metricsPort), "pgbouncer_pools_client_waiting_connections") == 1);

            Map<String, Family> page = scrape(metricsPort);
            for (String name : EXPORTER_FAMILIES) {
                assertTrue(page.containsKey(name), name + " missing from " + page.keySet());
                assertFalse(page.get(name).samples().isEmpty(), name + " has no samples");
            }
            for (Family f : page.values()) {
                assertEquals(f.name().endsWith("_total") ? "counter" : "gauge", f.type(), f.name());
                if (f.name().startsWith("pgbouncer_pools_")) {
                    for (Sample s : f.samples()) {
                        assertEquals(Set.of("database", "user"), s.labels().keySet(), f.name());
                    }
                }
                if (f.name().startsWith("pgbouncer_stats_totals_")) {
                    for (Sample s : f.samples()) {
                        assertEquals(Set.of("database"), s.labels().keySet(), f.name());
                    }
                }
                if (f.name().startsWith("pgbouncer_databases_")) {
                    for (Sample s : f.samples()) {
                        assertEquals(Set.of("name", "host", "port", "database", "force_user", "pool_mode"),
                                s.labels().keySet(), f.name());
                    }
                }
            }
            assertEquals(1, page.get("pgbouncer_up").value(Map.of()));
            Sample version = page.get("pgbouncer_version_info").samples().get(0);
            assertEquals(1, page.get("pgbouncer_version_info").samples().size());
            assertTrue(version.labels().get("version").matches("PgBouncer 1\\.\\d+\\.\\d+ \\(pgsvc .+\\)"),
                    version.toString());
            assertEquals(1, version.value());
            assertEquals(77, page.get("pgbouncer_config_max_client_connections").value(Map.of()));
            assertEquals(0, page.get("pgbouncer_config_max_user_connections").value(Map.of()));
            assertEquals(2, pool(page, "pgbouncer_pools_client_active_connections"));
            assertEquals(1, pool(page, "pgbouncer_pools_client_waiting_connections"));
            assertEquals(2, pool(page, "pgbouncer_pools_server_active_connections"));
            assertEquals(0, pool(page, "pgbouncer_pools_server_idle_connections"));
            assertTrue(pool(page, "pgbouncer_pools_client_maxwait_seconds") >= 0);
            Map<String, String> pgsvcDb = Map.of("name", "pgsvc", "host", "127.0.0.1", "port",
                    Integer.toString(PgCluster.shared().primary().port()), "database", "pgsvc", "force_user", "",
                    "pool_mode", "");
            assertEquals(2, page.get("pgbouncer_databases_current_connections").value(pgsvcDb));
            assertEquals(2, page.get("pgbouncer_databases_pool_size").value(pgsvcDb));
            assertEquals(0, page.get("pgbouncer_databases_paused").value(pgsvcDb));
            assertTrue(page.get("pgbouncer_used_clients").value(Map.of()) >= 3);
            assertEquals(0, page.get("pgbouncer_free_clients").value(Map.of()));

            // The transactions end: the waiting client gets its server and the gauges follow.
            a.commit();
            b.commit();
            assertEquals("42", waiting.readResult(true).orThrow().values().get(0));
            Await.until(DEADLINE, "nobody waits and two servers are idle", () -> {
                Map<String, Family> now = scrape(metricsPort);
                return pool(now, "pgbouncer_pools_client_waiting_connections") == 0
                        && pool(now, "pgbouncer_pools_server_idle_connections") == 2;
            });
            // Idle, the three clients stay active clients of the pool, as the exporter reads them from PgBouncer;
            // the console's own pool is listed as PgBouncer lists it, with no console connected.
            Map<String, Family> idle = scrape(metricsPort);
            assertEquals(3, pool(idle, "pgbouncer_pools_client_active_connections"));
            assertEquals(0, pool(idle, "pgbouncer_pools_server_active_connections"));
            assertEquals(0, idle.get("pgbouncer_pools_client_active_connections")
                    .value(Map.of("database", "pgbouncer", "user", "pgbouncer")));
        }
    }

    @Test
    void onlyGetAndHeadOfMetricsAreServedAndAConnectionServesScrapeAfterScrape() throws Exception {
        int metricsPort = PoolerFixture.freePort();
        try (PoolerFixture p = PoolerFixture.builder(PoolerFixture.defaults()).sections(metricsSection(metricsPort))
                .start()) {
            assertEquals(404, get(metricsPort, "/").statusCode());
            HttpResponse<String> post = HTTP.send(HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + metricsPort + "/metrics"))
                    .POST(HttpRequest.BodyPublishers.ofString("x")).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(405, post.statusCode());
            assertEquals("GET, HEAD", post.headers().firstValue("allow").orElse(""));

            HttpResponse<String> head = HTTP.send(HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + metricsPort + "/metrics"))
                    .method("HEAD", HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, head.statusCode());
            assertEquals("", head.body());
            assertTrue(Long.parseLong(head.headers().firstValue("content-length").orElse("0")) > 0);

            // Keep-alive: the client reuses one connection; every answer is a whole, valid page.
            for (int i = 0; i < 5; i++) {
                assertEquals(1, scrape(metricsPort).get("pgbouncer_up").value(Map.of()));
            }
            assertEquals(0, p.pgsvc().pooler().clientCount(), "metrics connections are not pooler clients");
        }
    }

    @Test
    void theRouterPublishesEachMembersRoleHealthAndConnectionsAndEachServicesState() throws Exception {
        int metricsPort = PoolerFixture.freePort();
        int primary = PoolerFixture.freePort();
        int replica = PoolerFixture.freePort();
        int direct = PoolerFixture.freePort();
        int offline = PoolerFixture.freePort();
        PgCluster cluster = PgCluster.shared();
        String sections = RouterFixture.pigstySections(cluster, primary, replica, direct, offline)
                + metricsSection(metricsPort);
        try (PoolerFixture p = PoolerFixture.builder(PoolerFixture.defaults()).sections(sections).start()) {
            Await.until(DEADLINE, "both members are up", () -> "UP primary".equals(p.pgsvc().memberState("m1"))
                    && "UP replica".equals(p.pgsvc().memberState("m2")));
            try (Connection pooled = RouterFixture.connect(primary, "prepareThreshold=0");
                 Connection passthrough = RouterFixture.connect(direct, "prepareThreshold=0")) {
                pooled.setAutoCommit(false);
                try (Statement st = pooled.createStatement()) {
                    st.execute("SELECT 1");
                }
                Map<String, Family> page = scrape(metricsPort);
                Map<String, String> m1 = Map.of("member", "m1", "cluster", "default");
                Map<String, String> m2 = Map.of("member", "m2", "cluster", "default");
                assertEquals(1, page.get("pgsvc_member_up").value(Map.of("member", "m1", "host", "127.0.0.1",
                        "port", Integer.toString(cluster.primary().port()))));
                assertEquals(1, page.get("pgsvc_member_up").value(m2));
                assertEquals(1, page.get("pgsvc_member_role").value(Map.of("member", "m1", "role", "primary")));
                assertEquals(1, page.get("pgsvc_member_role").value(Map.of("member", "m2", "role", "replica")));
                assertEquals(0, page.get("pgsvc_member_lag_bytes").value(m1));
                assertTrue(page.get("pgsvc_member_lag_bytes").value(m2) >= 0);
                assertTrue(page.get("pgsvc_member_checks_total").value(m1) >= 1);
                assertEquals("counter", page.get("pgsvc_member_checks_total").type());
                assertEquals(1, page.get("pgsvc_member_direct_connections").value(m1));
                assertEquals(0, page.get("pgsvc_member_direct_connections").value(m2));
                assertTrue(page.get("pgsvc_member_server_connections").value(m1) >= 1);

                assertEquals(1, page.get("pgsvc_service_up").value(Map.of("service", "primary", "port",
                        Integer.toString(primary), "role", "primary", "dest", "pooler")));
                assertEquals(1, page.get("pgsvc_service_members").value(Map.of("service", "replica")));
                assertEquals(0, page.get("pgsvc_service_backup_active").value(Map.of("service", "replica")));
                // No member is tagged offline: the offline service is served by its backup, the replica.
                assertEquals(1, page.get("pgsvc_service_up").value(Map.of("service", "offline")));
                assertEquals(1, page.get("pgsvc_service_backup_active").value(Map.of("service", "offline")));
                pooled.rollback();
            }
        }
    }

    @Test
    void theParserRefusesWhatTheFormatDoesNotAllow() {
        String ok = "# HELP a_b x\n# TYPE a_b gauge\na_b{l=\"v\\\"\\\\\\n\"} 1.5e3\n";
        assertEquals("v\"\\\n", ExpositionParser.parse(ok).get("a_b").samples().get(0).labels().get("l"));
        for (String bad : List.of(
                "# HELP a x\n# TYPE a gauge\na 1",                                   // no final line feed
                "# HELP a x\n# TYPE a gauge\na{l=\"\\t\"} 1\n",                       // bad escape
                "# HELP a x\na 1\n# TYPE a gauge\n",                                 // TYPE after samples
                "# HELP a x\n# TYPE a gauge\n# HELP b y\n# TYPE b gauge\nb 1\na 2\n",  // split family
                "# HELP a x\n# TYPE a gauge\na 1\na 2\n",                             // series twice
                "# HELP a x\n# TYPE a gauge\na one\n",                               // not a float
                "# HELP a x\n# TYPE a gauge\na{1l=\"v\"} 1\n",                        // bad label name
                "# HELP a x\n# TYPE a gauge\na{l=\"v\" 1\n")) {                       // unterminated labels
            assertThrows(IllegalArgumentException.class, () -> ExpositionParser.parse(bad), bad);
        }
    }
}
