package pgsvc.testing;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;

/** One PostgreSQL server of a {@link PgCluster}: where to reach it, and pg_ctl's stop, start and promote. */
public final class PgServer {

    static final Duration PG_CTL_TIMEOUT = Duration.ofSeconds(90);
    static final Duration READY_TIMEOUT = Duration.ofSeconds(60);

    private final String name;
    private final PgHost pgHost;
    private final String dir;
    private final int serverPort;

    PgServer(String name, PgHost pgHost, String dir, int serverPort) {
        this.name = name;
        this.pgHost = pgHost;
        this.dir = dir;
        this.serverPort = serverPort;
    }

    /** "primary" or "replica"; also its cluster_name, and so the replica's application_name on the primary. */
    public String name() {
        return name;
    }

    public String host() {
        return pgHost.clientHost();
    }

    public int port() {
        return pgHost.clientPort(serverPort);
    }

    /** The directory of the server's unix socket ({@code .s.PGSQL.<port>}); the data directory's parent. */
    public Path socketDir() {
        return Path.of(requireLocal(dir));
    }

    public Path dataDir() {
        return Path.of(requireLocal(dataPath()));
    }

    /** The server log: pg_ctl's -l file, next to the data directory. */
    public String log() {
        return pgHost.readFile(logPath());
    }

    public String jdbcUrl(String db) {
        return "jdbc:postgresql://" + host() + ":" + port() + "/" + db;
    }

    /** A JDBC connection over TCP; {@code password} may be null for a trust user. */
    public Connection connect(String db, String user, String password) throws SQLException {
        return Jdbc.connect(jdbcUrl(db), user, password);
    }

    /** A superuser connection to database {@code postgres}. */
    public Connection connectAdmin() throws SQLException {
        return connect("postgres", PgCluster.SUPERUSER, PgCluster.SUPERUSER_PASSWORD);
    }

    /** Stops the server (fast shutdown: sessions are terminated) and waits until it is gone. No-op if stopped. */
    public void stop() {
        ProcResult r = pgCtl("-m", "fast", "-w", "-t", "60", "stop");
        if (!r.ok() && isRunning()) {
            throw new IllegalStateException(name + ": pg_ctl stop failed\n" + r.describe());
        }
    }

    /** Starts the server and waits until it accepts a login. */
    public void start() {
        int logBefore = log().length();
        ProcResult r = pgCtl("-l", logPath(), "-w", "-t", "60", "start");
        if (!r.ok()) {
            String log = log();
            String recent = log.length() >= logBefore ? log.substring(logBefore) : log;
            if (recent.contains("Address already in use")) {
                throw new PortInUseException(name + ": port " + serverPort + " is taken\n" + recent);
            }
            throw new IllegalStateException(name + ": pg_ctl start failed\n" + r.describe() + "\n--- log\n" + recent);
        }
        Await.until(READY_TIMEOUT, name + " accepts connections", () -> {
            try (Connection c = connectAdmin()) {
                return c.isValid(5);
            }
        });
    }

    /** Promotes a standby and waits until it has left recovery and accepts writes. */
    public void promote() {
        pgCtl("-w", "-t", "60", "promote").orThrow();
        Await.until(READY_TIMEOUT, name + " leaves recovery", () -> !inRecovery());
    }

    /** True when a postmaster runs on the data directory (pg_ctl status), whether or not it accepts logins yet. */
    public boolean isRunning() {
        return pgCtl("status").exitCode() == 0;
    }

    /** {@code pg_is_in_recovery()}: true on a standby. */
    public boolean inRecovery() throws SQLException {
        try (Connection c = connectAdmin(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT pg_is_in_recovery()")) {
            rs.next();
            return rs.getBoolean(1);
        }
    }

    /**
     * Turns TLS on by a reload ({@code ssl = on} with this certificate and key, written into the data directory as
     * PostgreSQL wants them: owned by the server's user, mode 0600). With {@code caPem} the server also asks clients
     * for a certificate, which pg_stat_ssl.client_dn then shows. Undo with {@link #disableSsl()}.
     */
    public void enableSsl(String certPem, String keyPem, String caPem) throws SQLException {
        String data = dataPath();
        pgHost.writeFile(data + "/pgsvc-test.crt", certPem);
        pgHost.writeFile(data + "/pgsvc-test.key", keyPem);
        pgHost.exec(PG_CTL_TIMEOUT, "chmod", "600", data + "/pgsvc-test.key").orThrow();
        if (caPem != null) {
            pgHost.writeFile(data + "/pgsvc-test-ca.crt", caPem);
        }
        try (Connection c = connectAdmin(); Statement st = c.createStatement()) {
            st.execute("ALTER SYSTEM SET ssl_cert_file = 'pgsvc-test.crt'");
            st.execute("ALTER SYSTEM SET ssl_key_file = 'pgsvc-test.key'");
            st.execute(caPem != null ? "ALTER SYSTEM SET ssl_ca_file = 'pgsvc-test-ca.crt'"
                    : "ALTER SYSTEM RESET ssl_ca_file");
            st.execute("ALTER SYSTEM SET ssl = on");
            st.execute("SELECT pg_reload_conf()");
        }
        awaitSsl("on", certPem);
    }

    /** Turns TLS off again (after {@link #enableSsl}). */
    public void disableSsl() throws SQLException {
        try (Connection c = connectAdmin(); Statement st = c.createStatement()) {
            for (String name : new String[] {"ssl", "ssl_cert_file", "ssl_key_file", "ssl_ca_file"}) {
                st.execute("ALTER SYSTEM RESET " + name);
            }
            st.execute("SELECT pg_reload_conf()");
        }
        awaitSsl("off", null);
    }

    /**
     * A reload is asynchronous, and one that cannot load the files only logs it: wait until a new session is (or,
     * for "off", cannot be) encrypted, with the new certificate.
     */
    private void awaitSsl(String value, String certPem) {
        java.util.Properties props = new java.util.Properties();
        props.setProperty("user", PgCluster.SUPERUSER);
        props.setProperty("password", PgCluster.SUPERUSER_PASSWORD);
        props.setProperty("connectTimeout", "10");
        props.setProperty("sslmode", "prefer");
        props.setProperty("gssEncMode", "disable");
        String sql = "SELECT ssl" + (certPem == null ? "" : ", pg_read_file(current_setting('ssl_cert_file'))")
                + " FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
        Await.until(READY_TIMEOUT, name + " has ssl = " + value + " (see " + logPath() + ")", () -> {
            try (Connection c = java.sql.DriverManager.getConnection(jdbcUrl("postgres"), props);
                 Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
                rs.next();
                return rs.getBoolean(1) == value.equals("on")
                        && (certPem == null || certPem.equals(rs.getString(2)));
            }
        });
    }

    @Override
    public String toString() {
        return name + "@" + host() + ":" + port();
    }

    int serverPort() {
        return serverPort;
    }

    PgHost pgHost() {
        return pgHost;
    }

    String dataPath() {
        return dir + "/data";
    }

    private String logPath() {
        return dir + ".log";
    }

    private ProcResult pgCtl(String... args) {
        String[] cmd = new String[args.length + 3];
        cmd[0] = pgHost.binDir() + "/pg_ctl";
        cmd[1] = "-D";
        cmd[2] = dataPath();
        System.arraycopy(args, 0, cmd, 3, args.length);
        return pgHost.exec(PG_CTL_TIMEOUT, cmd);
    }

    private String requireLocal(String path) {
        if (!pgHost.local()) {
            throw new UnsupportedOperationException(name + " runs in a container; " + path + " is inside it");
        }
        return path;
    }

    /** Start failed because another process took the port between choosing it and binding it. */
    static final class PortInUseException extends IllegalStateException {
        PortInUseException(String message) {
            super(message);
        }
    }
}
