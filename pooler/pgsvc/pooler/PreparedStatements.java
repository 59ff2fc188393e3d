package pgsvc.pooler;

import java.lang.ref.ReferenceQueue;
import java.lang.ref.WeakReference;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The pooler-wide set of distinct prepared statements, PgBouncer's global statement hash (prepare.c): a client's
 * named Parse maps to one of these by its query text and parameter types, so that clients preparing the same
 * statement share one server-side name and each server connection prepares it once.
 *
 * <p>A statement is kept as long as a client maps a name to it or a server connection has it prepared; the map
 * holds it weakly, so one that nobody uses any more is forgotten without counting references across event loops.
 * Thread-safe: every client's loop interns here.
 */
final class PreparedStatements {
    /** Prefix of the server-side names; PgBouncer's is PGBOUNCER_. */
    static final String NAME_PREFIX = "PGSVC_";

    /** A server-side name no statement ever gets (ids start at 1): Describe of it fails on every server. */
    static final byte[] NEVER_PREPARED = (NAME_PREFIX + "0").getBytes(StandardCharsets.US_ASCII);

    /** One distinct statement; compared by identity, which the unique id stands for. */
    static final class Statement {
        final long id;
        /** The name it has on every server connection, without NUL. */
        final byte[] serverName;
        /** The Parse body after the statement name: query string with its NUL, parameter count and type OIDs. */
        final byte[] body;

        Statement(long id, byte[] body) {
            this.id = id;
            this.serverName = (NAME_PREFIX + id).getBytes(StandardCharsets.US_ASCII);
            this.body = body;
        }

        @Override
        public int hashCode() {
            return Long.hashCode(id);
        }

        @Override
        public String toString() {
            return NAME_PREFIX + id;
        }
    }

    private record Key(byte[] body, int hash) {
        Key(byte[] body) {
            this(body, Arrays.hashCode(body));
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Key k && k.hash == hash && Arrays.equals(k.body, body);
        }

        @Override
        public int hashCode() {
            return hash;
        }
    }

    private static final class Ref extends WeakReference<Statement> {
        final Key key;

        Ref(Key key, Statement statement, ReferenceQueue<Statement> queue) {
            super(statement, queue);
            this.key = key;
        }
    }

    private final ConcurrentHashMap<Key, Ref> statements = new ConcurrentHashMap<>();
    private final ReferenceQueue<Statement> forgotten = new ReferenceQueue<>();
    private final AtomicLong ids = new AtomicLong();

    /** The statement with this Parse body (taken over, not copied), registered now if nobody holds one. */
    Statement intern(byte[] body) {
        expunge();
        Key key = new Key(body);
        while (true) {
            Ref ref = statements.get(key);
            Statement existing = ref == null ? null : ref.get();
            if (existing != null) {
                return existing;
            }
            Statement created = new Statement(ids.incrementAndGet(), body);
            Ref fresh = new Ref(key, created, forgotten);
            if (ref == null ? statements.putIfAbsent(key, fresh) == null : statements.replace(key, ref, fresh)) {
                return created;
            }
        }
    }

    /** Distinct statements registered, including ones already unreachable but not yet expunged. */
    int size() {
        expunge();
        return statements.size();
    }

    private void expunge() {
        Ref ref;
        while ((ref = (Ref) forgotten.poll()) != null) {
            statements.remove(ref.key, ref);
        }
    }
}
