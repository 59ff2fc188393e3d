package pgsvc.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Map;

/**
 * Certificates made at test time with the openssl command: a test CA, and another CA nobody trusts; each issues
 * server and client certificates on request (EC P-256 keys, valid for two days). Keys are written as PEM PKCS#8
 * files with mode 0600 (libpq refuses keys others can read), and as PKCS#8 DER next to them, the form pgjdbc's
 * {@code sslkey} takes.
 */
public final class TestCerts implements AutoCloseable {
    private static final Duration OPENSSL_TIMEOUT = Duration.ofSeconds(60);
    private static final SecureRandom RANDOM = new SecureRandom();

    /** A certificate with its key: PEM certificate, PEM key, DER key. */
    public record Issued(Path cert, Path key, Path keyDer) {
        public String certPem() {
            return read(cert);
        }

        public String keyPem() {
            return read(key);
        }
    }

    /** The CA pgsvc and the clients trust, and one they do not. */
    public enum Ca { TEST, OTHER }

    private final Path dir;

    private TestCerts(Path dir) {
        this.dir = dir;
    }

    /** A new directory with both CAs. */
    public static TestCerts create() {
        try {
            Path dir = Files.createTempDirectory("pgsvc-certs");
            TestCerts certs = new TestCerts(dir);
            certs.ca("ca", "pgsvc test CA");
            certs.ca("other-ca", "some other CA");
            return certs;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public Path dir() {
        return dir;
    }

    /** The test CA's certificate (PEM). */
    public Path caCert() {
        return dir.resolve("ca.crt");
    }

    /** The other CA's certificate (PEM). */
    public Path otherCaCert() {
        return dir.resolve("other-ca.crt");
    }

    /** A server certificate for localhost and 127.0.0.1. */
    public Issued server(String name, Ca ca) {
        return issue(name, "localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1", ca);
    }

    /** A server certificate for a host name that is neither localhost nor 127.0.0.1. */
    public Issued serverElsewhere(String name) {
        return issue(name, "db.elsewhere.invalid", "subjectAltName=DNS:db.elsewhere.invalid", Ca.TEST);
    }

    /** A client certificate whose common name is {@code cn} (a user name, for cert authentication). */
    public Issued client(String name, String cn, Ca ca) {
        return issue(name, cn, "extendedKeyUsage=clientAuth", ca);
    }

    private void ca(String name, String cn) {
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", dir.resolve(name + ".key").toString(), "-out", dir.resolve(name + ".crt").toString(),
                "-days", "2", "-subj", "/CN=" + cn, "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign");
    }

    private Issued issue(String name, String cn, String extension, Ca ca) {
        String caName = ca == Ca.TEST ? "ca" : "other-ca";
        Path key = dir.resolve(name + ".key");
        Path csr = dir.resolve(name + ".csr");
        Path cert = dir.resolve(name + ".crt");
        Path der = dir.resolve(name + ".pk8");
        Path ext = dir.resolve(name + ".ext");
        try {
            Files.writeString(ext, extension + "\n");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", key.toString(), "-out", csr.toString(), "-subj", "/CN=" + cn);
        openssl("x509", "-req", "-in", csr.toString(), "-CA", dir.resolve(caName + ".crt").toString(),
                "-CAkey", dir.resolve(caName + ".key").toString(), "-set_serial",
                Long.toString(RANDOM.nextLong() & Long.MAX_VALUE), "-days", "2", "-extfile", ext.toString(),
                "-out", cert.toString());
        openssl("pkcs8", "-topk8", "-nocrypt", "-inform", "PEM", "-outform", "DER", "-in", key.toString(),
                "-out", der.toString());
        try {
            Files.setPosixFilePermissions(key, PosixFilePermissions.fromString("rw-------"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return new Issued(cert, key, der);
    }

    /** Runs openssl with these arguments; throws with its output if it fails. */
    public static ProcResult openssl(String... args) {
        String[] cmd = new String[args.length + 1];
        cmd[0] = "openssl";
        System.arraycopy(args, 0, cmd, 1, args.length);
        return Tools.run(OPENSSL_TIMEOUT, Map.of(), cmd).orThrow();
    }

    private static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void close() {
        try (var paths = Files.walk(dir)) {
            paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
