package pgsvc.testing;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.UserPrincipal;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A real PgBouncer ({@code pgbouncer <ini>} in the foreground) on a free loopback port, for differential tests. Its
 * ini, auth file, logfile, pidfile and Unix socket live in a temp dir under /tmp that {@link #close()} deletes. As
 * root it runs as the OS user {@code postgres}, since PgBouncer refuses to run as root.
 *
 * <p>The process owns {@link #OWNED_SETTINGS}: they are written at the top of the given ini's [pgbouncer] section,
 * and the ini must not set them. Its listen_addr must include 127.0.0.1.
 */
public final class PgBouncerProcess implements AutoCloseable {

    public static final String INSTALL_HINT = "apt-get install -y pgbouncer";
    public static final List<String> OWNED_SETTINGS =
            List.of("listen_port", "auth_file", "logfile", "pidfile", "unix_socket_dir");

    private static final Duration START_TIMEOUT = Duration.ofSeconds(30);
    private static final Duration STOP_TIMEOUT = Duration.ofSeconds(10);
    private static final Duration PROBE_TIMEOUT = Duration.ofSeconds(10);
    private static final int PORT_ATTEMPTS = 5;
    private static final int CONNECT_TIMEOUT_MILLIS = 1000;
    private static final Pattern SECTION = Pattern.compile("(?m)^[ \\t]*\\[([^\\]]*)\\][ \\t]*$");
    private static final List<String> SEARCH_DIRS = List.of("/usr/sbin", "/usr/local/sbin", "/usr/bin",
            "/usr/local/bin");

    private final Path dir;
    private final int port;
    private final Process process;

    private PgBouncerProcess(Path dir, int port, Process process) {
        this.dir = dir;
        this.port = port;
        this.process = process;
    }

    /** True when a {@code pgbouncer} executable is on the PATH or in the usual sbin directories. */
    public static boolean installed() {
        return executable().isPresent();
    }

    /**
     * Starts PgBouncer from {@code ini} (the whole file: [databases], [pgbouncer], ...) and {@code userlist} (the
     * auth file's text), and returns once it accepts TCP connections.
     */
    public static PgBouncerProcess start(String ini, String userlist) {
        String binary = executable().orElseThrow(() -> new IllegalStateException(
                "pgbouncer is not installed; install it with: " + INSTALL_HINT));
        for (String key : OWNED_SETTINGS) {
            if (Pattern.compile("(?im)^\\s*" + key + "\\s*=").matcher(ini).find()) {
                throw new IllegalArgumentException(key + " belongs to PgBouncerProcess; leave it out of the ini");
            }
        }
        UserPrincipal owner = serverUser();
        for (int attempt = 1; ; attempt++) {
            Path dir = createDir(owner);
            int port = freePort();
            try {
                PgBouncerProcess started = launch(binary, dir, owner, port, ini, userlist);
                if (started != null) {
                    return started;
                }
                if (attempt == PORT_ATTEMPTS) {
                    throw new IllegalStateException("pgbouncer lost the race for a free port " + PORT_ATTEMPTS
                            + " times");
                }
            } catch (RuntimeException e) {
                deleteTree(dir);
                throw e;
            }
            deleteTree(dir);
        }
    }

    /** The TCP port on 127.0.0.1. */
    public int port() {
        return port;
    }

    /** What PgBouncer wrote to its logfile so far. */
    public String log() {
        return read(dir.resolve("pgbouncer.log"));
    }

    /**
     * Asks PgBouncer to stop (SIGTERM: immediate before 1.23, wait-for-clients since; then SIGINT, which a shutdown
     * in progress takes as "now"), kills it if it still runs, and deletes its directory.
     */
    @Override
    public void close() {
        try {
            stop(process);
        } finally {
            deleteTree(dir);
        }
    }

    /** Null when PgBouncer exited because another process took the port first. */
    private static PgBouncerProcess launch(String binary, Path dir, UserPrincipal owner, int port, String ini,
                                           String userlist) {
        Path iniFile = dir.resolve("pgbouncer.ini");
        write(dir.resolve("userlist.txt"), userlist, owner);
        write(iniFile, withOwnedSettings(ini, dir, port), owner);
        List<String> cmd = new ArrayList<>();
        if (owner != null) {
            cmd.addAll(List.of("runuser", "-u", owner.getName(), "--"));
        }
        cmd.addAll(List.of(binary, iniFile.toString()));
        Path output = dir.resolve("stderr.log");
        Process process;
        try {
            // Started from its own directory: the postgres user may not be allowed into the JVM's working directory.
            process = new ProcessBuilder(cmd).directory(dir.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectErrorStream(true)
                    .redirectOutput(output.toFile())
                    .start();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + String.join(" ", cmd), e);
        }
        try {
            Await.until(START_TIMEOUT, "pgbouncer accepts connections on 127.0.0.1:" + port,
                    () -> !process.isAlive() || accepts(port));
        } catch (RuntimeException e) {
            stop(process);
            throw new IllegalStateException(e.getMessage() + "; pgbouncer said:\n" + read(output), e);
        }
        if (process.isAlive()) {
            return new PgBouncerProcess(dir, port, process);
        }
        String said = read(output);
        if (said.contains("Address already in use")) {
            return null;
        }
        throw new IllegalStateException("pgbouncer exited with " + process.exitValue() + " before accepting "
                + "connections; it said:\n" + said);
    }

    private static String withOwnedSettings(String ini, Path dir, int port) {
        Matcher m = SECTION.matcher(ini);
        while (m.find()) {
            if (m.group(1).trim().equalsIgnoreCase("pgbouncer")) {
                String owned = "\nlisten_port = " + port
                        + "\nauth_file = " + dir.resolve("userlist.txt")
                        + "\nlogfile = " + dir.resolve("pgbouncer.log")
                        + "\npidfile = " + dir.resolve("pgbouncer.pid")
                        + "\nunix_socket_dir = " + dir;
                return ini.substring(0, m.end()) + owned + ini.substring(m.end());
            }
        }
        throw new IllegalArgumentException("the ini has no [pgbouncer] section:\n" + ini);
    }

    private static boolean accepts(int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), CONNECT_TIMEOUT_MILLIS);
            return true;
        } catch (IOException notYet) {
            return false;
        }
    }

    /** Signals PgBouncer itself: as root, {@code process} is runuser, and pgbouncer is its child. */
    private static void stop(Process process) {
        List<ProcessHandle> targets = new ArrayList<>(process.toHandle().descendants().toList());
        targets.add(process.toHandle());
        try {
            for (String signal : List.of("TERM", "INT")) {
                for (ProcessHandle h : targets) {
                    if (h.isAlive()) {
                        Tools.run(PROBE_TIMEOUT, Map.of(), "kill", "-" + signal, Long.toString(h.pid()));
                    }
                }
                if (process.waitFor(STOP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)
                        && targets.stream().noneMatch(ProcessHandle::isAlive)) {
                    return;
                }
            }
            targets.forEach(ProcessHandle::destroyForcibly);
            process.waitFor(STOP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            targets.forEach(ProcessHandle::destroyForcibly);
            Thread.currentThread().interrupt();
        }
    }

    private static Optional<String> executable() {
        List<String> dirs = new ArrayList<>();
        String path = System.getenv("PATH");
        if (path != null) {
            dirs.addAll(List.of(path.split(File.pathSeparator)));
        }
        dirs.addAll(SEARCH_DIRS);
        return dirs.stream().filter(d -> !d.isEmpty()).map(d -> Path.of(d, "pgbouncer"))
                .filter(Files::isExecutable).map(Path::toString).findFirst();
    }

    /** The OS user {@code postgres} when this JVM is root, else null (run as ourselves). */
    private static UserPrincipal serverUser() {
        if (!PgBinaries.runningAsRoot()) {
            return null;
        }
        if (!Tools.run(PROBE_TIMEOUT, Map.of(), "id", "-u", "postgres").ok()) {
            throw new IllegalStateException("running as root, and PgBouncer refuses to run as root, but there is no "
                    + "OS user 'postgres' to run it as; create one (" + INSTALL_HINT + " does) or run as another user");
        }
        try {
            return Path.of("/tmp").getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName("postgres");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Under /tmp: the postgres user must reach it, and the Unix socket path must stay under 108 bytes. */
    private static Path createDir(UserPrincipal owner) {
        try {
            Path dir = Files.createTempDirectory(Path.of("/tmp"), "pgsvc-pgbouncer-");
            if (owner != null) {
                Files.setOwner(dir, owner);
            }
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create a PgBouncer directory under /tmp", e);
        }
    }

    private static int freePort() {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void write(Path file, String content, UserPrincipal owner) {
        try {
            Files.writeString(file, content, StandardCharsets.UTF_8);
            if (owner != null) {
                Files.setOwner(file, owner);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String read(Path file) {
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            return "";
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void deleteTree(Path dir) {
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (NoSuchFileException alreadyGone) {
            // closed twice
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete " + dir, e);
        }
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "pgbouncer on 127.0.0.1:%d (%s)", port, dir);
    }
}
