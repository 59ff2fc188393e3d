package pgsvc.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.UserPrincipal;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * PostgreSQL on this machine, in a temporary directory under /tmp that {@link #close()} deletes. /tmp rather than
 * java.io.tmpdir: the OS user {@code postgres} must reach it, and a unix socket path must stay under 108 bytes.
 */
final class LocalPgHost implements PgHost {

    private static final String LOOPBACK = "127.0.0.1";

    private final Path binDir;
    private final Path baseDir;
    /** The OS user {@code postgres} when this JVM is root, which PostgreSQL refuses to run as; else null. */
    private final UserPrincipal serverUser;

    private LocalPgHost(Path binDir, Path baseDir, UserPrincipal serverUser) {
        this.binDir = binDir;
        this.baseDir = baseDir;
        this.serverUser = serverUser;
    }

    static LocalPgHost create(Path binDir) {
        boolean root = PgBinaries.runningAsRoot();
        if (root) {
            PgBinaries.requirePostgresUser();
        }
        try {
            Path base = Files.createTempDirectory(Path.of("/tmp"), "pgsvc-pg-");
            UserPrincipal user = null;
            if (root) {
                user = base.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName("postgres");
                Files.setOwner(base, user);
            }
            return new LocalPgHost(binDir, base, user);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create a cluster directory under /tmp", e);
        }
    }

    @Override
    public boolean local() {
        return true;
    }

    @Override
    public String binDir() {
        return binDir.toString();
    }

    @Override
    public String baseDir() {
        return baseDir.toString();
    }

    @Override
    public ProcResult exec(Duration timeout, String... cmd) {
        List<String> full = new ArrayList<>();
        if (serverUser != null) {
            full.addAll(List.of("runuser", "-u", serverUser.getName(), "--"));
        }
        full.addAll(List.of(cmd));
        // Run from the base directory: the server user may not be allowed into the JVM's working directory.
        return Tools.run(timeout, Map.of(), baseDir, full.toArray(new String[0]));
    }

    @Override
    public void writeFile(String path, String content) {
        try {
            Path file = Path.of(path);
            Files.writeString(file, content, StandardCharsets.UTF_8);
            if (serverUser != null) {
                Files.setOwner(file, serverUser);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public String readFile(String path) {
        try {
            return Files.readString(Path.of(path), StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            return "";
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A port nobody listens on right now; a server that still loses the race is restarted on another one. */
    @Override
    public int newServerPort() {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getByName(LOOPBACK))) {
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public String listenAddresses() {
        return LOOPBACK;
    }

    @Override
    public String clientNetwork() {
        return LOOPBACK + "/32";
    }

    @Override
    public String clientHost() {
        return LOOPBACK;
    }

    @Override
    public int clientPort(int serverPort) {
        return serverPort;
    }

    @Override
    public String peerHost() {
        return LOOPBACK;
    }

    @Override
    public void close() {
        try (Stream<Path> paths = Files.walk(baseDir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (NoSuchFileException alreadyGone) {
            // closed twice
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete " + baseDir, e);
        }
    }
}
