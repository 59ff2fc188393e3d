package pgsvc.testing;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** Runs external commands, and the PostgreSQL clients (psql, pgbench) as the current OS user. */
public final class Tools {

    public static final Duration PSQL_TIMEOUT = Duration.ofSeconds(60);

    private Tools() {
    }

    /**
     * Runs a command to completion, killing it and its descendants if it outlives {@code timeout}.
     * Output goes to files rather than pipes: a daemon the command leaves behind (pg_ctl start) must not be able to
     * hold a pipe open and make us wait for it.
     */
    public static ProcResult run(Duration timeout, Map<String, String> env, String... cmd) {
        return run(timeout, env, null, cmd);
    }

    static ProcResult run(Duration timeout, Map<String, String> env, Path workDir, String... cmd) {
        Path out = null;
        Path err = null;
        try {
            out = Files.createTempFile("pgsvc-proc-", ".out");
            err = Files.createTempFile("pgsvc-proc-", ".err");
            ProcessBuilder pb = new ProcessBuilder(cmd)
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectOutput(out.toFile())
                    .redirectError(err.toFile());
            if (workDir != null) {
                pb.directory(workDir.toFile());
            }
            pb.environment().putAll(env);
            Process p = pb.start();
            boolean finished = p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
            if (!finished) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
            }
            return new ProcResult(Arrays.asList(cmd), finished ? p.exitValue() : -1,
                    Files.readString(out, StandardCharsets.UTF_8), Files.readString(err, StandardCharsets.UTF_8),
                    !finished);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + String.join(" ", cmd), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while running " + String.join(" ", cmd), e);
        } finally {
            deleteQuietly(out);
            deleteQuietly(err);
        }
    }

    /** Runs one SQL string with psql over TCP to 127.0.0.1: unaligned, tuples only, stop on the first error. */
    public static ProcResult psql(int port, String user, String password, String db, String sql) {
        return runClient(PSQL_TIMEOUT, clientEnv(password), PgBinaries.client("psql"),
                "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", Integer.toString(port),
                "-U", user, "-d", db, "-c", sql);
    }

    /**
     * Runs psql with free-form {@code args} (a script with -f, a Unix socket directory as -h); {@code password} goes
     * in PGPASSWORD when not null.
     */
    public static ProcResult psqlArgs(String password, String... args) {
        return runClient(PSQL_TIMEOUT, clientEnv(password), PgBinaries.client("psql"), args);
    }

    /**
     * Runs pgbench over TCP to 127.0.0.1 with free-form {@code args} (e.g. "-S", "-c", "10", "-T", "5", or "-i",
     * "-s", "1"); the database name goes last, where pgbench expects it.
     */
    public static ProcResult pgbench(Duration timeout, int port, String user, String password, String db,
                                     String... args) {
        List<String> cmd = new ArrayList<>(List.of(PgBinaries.client("pgbench"),
                "-h", "127.0.0.1", "-p", Integer.toString(port), "-U", user));
        cmd.addAll(Arrays.asList(args));
        cmd.add(db);
        return run(timeout, clientEnv(password), cmd.toArray(new String[0]));
    }

    private static Map<String, String> clientEnv(String password) {
        // A connect that hangs (a pooler under test not answering) should fail the test, not stall it.
        return password == null ? Map.of("PGCONNECT_TIMEOUT", "10")
                : Map.of("PGCONNECT_TIMEOUT", "10", "PGPASSWORD", password);
    }

    private static ProcResult runClient(Duration timeout, Map<String, String> env, String program, String... args) {
        String[] cmd = new String[args.length + 1];
        cmd[0] = program;
        System.arraycopy(args, 0, cmd, 1, args.length);
        return run(timeout, env, cmd);
    }

    private static void deleteQuietly(Path path) {
        if (path != null) {
            try {
                Files.deleteIfExists(path);
            } catch (IOException ignored) {
                // a leftover temp file is harmless
            }
        }
    }
}
