package pgsvc.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/** Finds the PostgreSQL server binaries on this machine, and the OS user that may run them. */
final class PgBinaries {

    static final String INSTALL_HINT = "apt-get install -y postgresql";

    private static final Duration PROBE_TIMEOUT = Duration.ofSeconds(10);
    private static final Pattern VERSION_DIR = Pattern.compile("/(\\d+)(?:\\.(\\d+))?/bin$");

    private static volatile Optional<Path> found;

    private PgBinaries() {
    }

    /**
     * The directory holding {@code postgres}, {@code initdb} and {@code pg_ctl}: $PG_BIN, else {@code pg_config
     * --bindir}, else the newest /usr/lib/postgresql/N/bin. pg_config alone is not enough: on Debian it comes with
     * the client package and may point at a directory without a server.
     */
    static Optional<Path> serverBinDir() {
        Optional<Path> dir = found;
        if (dir == null) {
            dir = locate();
            found = dir;
        }
        return dir;
    }

    /** A client program from the server's directory when there is one (same version), else from the PATH. */
    static String client(String name) {
        return serverBinDir().map(d -> d.resolve(name)).filter(Files::isExecutable).map(Path::toString).orElse(name);
    }

    private static Optional<Path> locate() {
        String env = System.getenv("PG_BIN");
        if (env != null && !env.isBlank()) {
            Path dir = Path.of(env);
            if (!hasServer(dir)) {
                throw new IllegalStateException("PG_BIN=" + env + " has no 'postgres' binary");
            }
            return Optional.of(dir);
        }
        try {
            ProcResult pgConfig = Tools.run(PROBE_TIMEOUT, Map.of(), "pg_config", "--bindir");
            Path dir = Path.of(pgConfig.stdout().trim());
            if (pgConfig.ok() && hasServer(dir)) {
                return Optional.of(dir);
            }
        } catch (UncheckedIOException notOnPath) {
            // no pg_config: fall through to the well-known locations
        }
        Path root = Path.of("/usr/lib/postgresql");
        if (!Files.isDirectory(root)) {
            return Optional.empty();
        }
        try (Stream<Path> versions = Files.list(root)) {
            return versions.map(v -> v.resolve("bin"))
                    .filter(PgBinaries::hasServer)
                    .max(Comparator.comparingInt(PgBinaries::majorVersion));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static boolean hasServer(Path dir) {
        return Files.isExecutable(dir.resolve("postgres")) && Files.isExecutable(dir.resolve("initdb"));
    }

    private static int majorVersion(Path binDir) {
        Matcher m = VERSION_DIR.matcher(binDir.toString());
        // 9.6 sorts below 10: major * 100 + minor
        return m.find() ? Integer.parseInt(m.group(1)) * 100 + (m.group(2) == null ? 0 : Integer.parseInt(m.group(2)))
                : 0;
    }

    /** True when this JVM runs as root, which PostgreSQL refuses: the server side then runs as {@code postgres}. */
    static boolean runningAsRoot() {
        ProcResult id = Tools.run(PROBE_TIMEOUT, Map.of(), "id", "-u").orThrow();
        return id.stdout().trim().equals("0");
    }

    /** Checks that the OS user {@code postgres} exists, since root must hand the server over to it. */
    static void requirePostgresUser() {
        if (!Tools.run(PROBE_TIMEOUT, Map.of(), "id", "-u", "postgres").ok()) {
            throw new IllegalStateException("running as root, and PostgreSQL refuses to run as root, but there is no "
                    + "OS user 'postgres' to run it as; create one (" + INSTALL_HINT + " does) or run as another user");
        }
    }
}
