package pgsvc.it;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;

import pgsvc.router.Pgsvc;
import pgsvc.testing.PgCluster;

/**
 * A pgsvc started in this JVM in front of the shared test cluster, from a pooler.ini written to a temp dir.
 * Settings are given as [pgbouncer] key/values; [databases] points `pgsvc` and `*` at the primary.
 */
final class PoolerFixture implements AutoCloseable {
    static final String USERLIST = """
            "postgres" "postgres"
            "pgsvc_md5" "md5pass"
            "pgsvc_scram" "scrampass"
            "pgsvc_trust" ""
            """;

    private final Path dir;
    private final Pgsvc pgsvc;

    private PoolerFixture(Path dir, Pgsvc pgsvc) {
        this.dir = dir;
        this.pgsvc = pgsvc;
    }

    static Map<String, String> defaults() {
        Map<String, String> s = new LinkedHashMap<>();
        s.put("listen_addr", "127.0.0.1");
        s.put("auth_type", "md5");
        s.put("pool_mode", "transaction");
        s.put("default_pool_size", "20");
        s.put("max_client_conn", "1000");
        s.put("ignore_startup_parameters", "extra_float_digits");
        s.put("unix_socket_dir", "");
        return s;
    }

    static PoolerFixture start(Map<String, String> settings) {
        return start(settings, "");
    }

    static PoolerFixture start(Map<String, String> settings, String extraDatabases) {
        return builder(settings).databases(extraDatabases).start();
    }

    /** For more than settings: extra [databases] lines, [users] lines, another auth file, no `*` entry. */
    static Builder builder(Map<String, String> settings) {
        return new Builder(settings);
    }

    /** What goes into pooler.ini and the auth file besides [pgbouncer] settings; defaults as {@link #start(Map)}. */
    static final class Builder {
        private final Map<String, String> settings;
        private String databases = "";
        private String users = "";
        private String userlist = USERLIST;
        private boolean wildcard = true;
        private PgCluster cluster;
        private int upstreamPort;
        private String sections = "";

        private Builder(Map<String, String> settings) {
            this.settings = new LinkedHashMap<>(settings);
        }

        /** [databases] lines, newline-terminated, written after `pgsvc` and before `*`. */
        Builder databases(String lines) {
            this.databases = lines;
            return this;
        }

        /** A [users] section with these lines, newline-terminated. */
        Builder users(String lines) {
            this.users = lines;
            return this;
        }

        /** The auth file's whole text instead of {@link #USERLIST}. */
        Builder userlist(String text) {
            this.userlist = text;
            return this;
        }

        /** The cluster [databases] point at, instead of the shared one. */
        Builder cluster(PgCluster cluster) {
            this.cluster = cluster;
            return this;
        }

        /** The port [databases] point at on 127.0.0.1, for a server that is not a PgCluster (e.g. Patroni's). */
        Builder upstreamPort(int port) {
            this.upstreamPort = port;
            return this;
        }

        /** Whole sections (e.g. [hosts], [services], [router]) appended after [pgbouncer]. */
        Builder sections(String text) {
            this.sections = text;
            return this;
        }

        /** Leaves out the `*` entry, so a database not listed is unknown. */
        Builder withoutWildcard() {
            this.wildcard = false;
            return this;
        }

        PoolerFixture start() {
            try {
                Path dir = Files.createTempDirectory("pgsvc-it");
                Files.writeString(dir.resolve("userlist.txt"), userlist);
                int primary = upstreamPort > 0 ? upstreamPort
                        : (cluster != null ? cluster : PgCluster.shared()).primary().port();
                StringBuilder ini = new StringBuilder();
                ini.append("[databases]\n");
                ini.append("pgsvc = host=127.0.0.1 port=").append(primary).append(" dbname=pgsvc\n");
                ini.append(databases);
                if (wildcard) {
                    ini.append("* = host=127.0.0.1 port=").append(primary).append('\n');
                }
                if (!users.isEmpty()) {
                    ini.append("\n[users]\n").append(users);
                }
                ini.append("\n[pgbouncer]\n");
                Map<String, String> all = new LinkedHashMap<>(settings);
                all.putIfAbsent("listen_port", Integer.toString(freePort()));
                all.putIfAbsent("auth_file", dir.resolve("userlist.txt").toString());
                for (Map.Entry<String, String> e : all.entrySet()) {
                    ini.append(e.getKey()).append(" = ").append(e.getValue()).append('\n');
                }
                ini.append(sections);
                Path file = dir.resolve("pooler.ini");
                Files.writeString(file, ini);
                return new PoolerFixture(dir, Pgsvc.start(file));
            } catch (Exception e) {
                throw new IllegalStateException("pgsvc did not start: " + e.getMessage(), e);
            }
        }
    }

    static int freePort() {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    int port() {
        return pgsvc.port();
    }

    Pgsvc pgsvc() {
        return pgsvc;
    }

    Path dir() {
        return dir;
    }

    String url(String db) {
        return "jdbc:postgresql://127.0.0.1:" + port() + "/" + db;
    }

    Connection connect(String user, String password) throws SQLException {
        return connect("pgsvc", user, password, new Properties());
    }

    Connection connect(String db, String user, String password, Properties extra) throws SQLException {
        Properties p = new Properties();
        p.putAll(extra);
        p.setProperty("user", user);
        p.setProperty("password", password);
        // Named server-side statements need prepared-statement tracking (issue 5); until then, unnamed ones only.
        p.putIfAbsent("prepareThreshold", "0");
        p.putIfAbsent("connectTimeout", "20");
        p.putIfAbsent("socketTimeout", "60");
        return DriverManager.getConnection(url(db), p);
    }

    @Override
    public void close() {
        pgsvc.close();
    }
}
