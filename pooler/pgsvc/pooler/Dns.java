package pgsvc.pooler;

import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.security.Security;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.StringJoiner;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.LongSupplier;

import io.netty.util.NetUtil;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Host names of PostgreSQL servers, resolved off the event loops and cached as PgBouncer does: an answer is kept for
 * {@code dns_max_ttl} whatever the record's own TTL, a failure for {@code dns_nxdomain_ttl}, and callers asking for a
 * name while it is being looked up share that one lookup. Each caller gets the next address of the answer in turn
 * (PgBouncer's round robin, restarting at the first address with every new answer), through a future whose listeners
 * run on the caller's event loop.
 *
 * <p>Lookups go through the JDK's resolver, which is the C library's getaddrinfo, so /etc/hosts and nsswitch apply as
 * they do for PgBouncer's default (libc) backend. It blocks, so it runs on a few daemon threads of its own. The JDK
 * also caches answers (30 s, failures 10 s) by a policy it reads once, at its first lookup; loading this class turns
 * that cache off, so that a name is never older than dns_max_ttl. The pooler loads it before its first lookup.
 */
public final class Dns {
    private static final Logger log = LoggerFactory.getLogger(Dns.class);

    static {
        Security.setProperty("networkaddress.cache.ttl", "0");
        Security.setProperty("networkaddress.cache.negative.ttl", "0");
    }

    /** A blocking lookup of every address of a name: the JDK's in production, a stub in tests. */
    @FunctionalInterface
    public interface Lookup {
        InetAddress[] lookup(String host) throws UnknownHostException;
    }

    /**
     * One row of SHOW DNS_HOSTS.
     *
     * @param hostname the name as configured
     * @param ttl      whole seconds the answer (or failure) is still cached for; 0 while none is, or while looking up
     * @param addrs    the addresses, comma-separated, as PgBouncer prints them ({@code 10.0.0.1:0},
     *                 {@code [fd00::1]:0}: the port is 0 because the lookup is for the host alone); empty after a
     *                 failure
     */
    public record HostRow(String hostname, long ttl, String addrs) {
    }

    /** Shared by all poolers of the process: lookups are few (once per name per ttl) and may block for seconds. */
    private static final Executor LOOKUP_THREADS = lookupThreads();

    private volatile Lookup lookup;
    private final Executor executor;
    private final LongSupplier nanoClock;
    private final LongSupplier maxTtlMicros;
    private final LongSupplier nxdomainTtlMicros;
    private final Map<String, Name> names = new ConcurrentHashMap<>();

    /**
     * @param lookup            the blocking lookup
     * @param executor          where lookups run (never an event loop)
     * @param nanoClock         monotonic time in nanoseconds, as {@link System#nanoTime()}
     * @param maxTtlMicros      how long an answer is kept (dns_max_ttl), read at each answer so RELOAD applies
     * @param nxdomainTtlMicros how long a failure is kept (dns_nxdomain_ttl), likewise
     */
    Dns(Lookup lookup, Executor executor, LongSupplier nanoClock, LongSupplier maxTtlMicros,
            LongSupplier nxdomainTtlMicros) {
        this.lookup = lookup;
        this.executor = executor;
        this.nanoClock = nanoClock;
        this.maxTtlMicros = maxTtlMicros;
        this.nxdomainTtlMicros = nxdomainTtlMicros;
    }

    /**
     * Puts another lookup in place for the lookups that start from now on; cached answers stay until they expire.
     * The seam through which an integration test gives a running pooler a resolver it controls.
     */
    public void useLookup(Lookup next) {
        this.lookup = Objects.requireNonNull(next, "lookup");
    }

    /** The JDK's resolver on the shared lookup threads. */
    static Dns jdk(LongSupplier maxTtlMicros, LongSupplier nxdomainTtlMicros) {
        return new Dns(InetAddress::getAllByName, LOOKUP_THREADS, System::nanoTime, maxTtlMicros, nxdomainTtlMicros);
    }

    /**
     * The address to connect to for a host name: from the cache while its answer is fresh, else after a lookup (one
     * at a time per name). The future fails with an {@link UnknownHostException} when the name does not resolve.
     * Never blocks; listeners run on {@code loop}.
     */
    public Future<InetAddress> resolve(String host, EventExecutor loop) {
        Name name = names.get(host);
        if (name == null) {
            name = names.computeIfAbsent(host, Name::new);
        }
        Answer cached = name.answer;
        if (cached != null && isFresh(cached)) {
            return cached.failure != null ? loop.newFailedFuture(cached.failure)
                    : loop.newSucceededFuture(cached.nextAddress());
        }
        Promise<InetAddress> promise = loop.newPromise();
        query(name).thenAccept(answer -> {
            // Completed on a lookup thread; the promise runs its listeners on the loop.
            if (answer.failure != null) {
                promise.tryFailure(answer.failure);
            } else {
                promise.trySuccess(answer.nextAddress());
            }
        });
        return promise;
    }

    /** Every name looked up so far, by name, for SHOW DNS_HOSTS. */
    public List<HostRow> hosts() {
        long now = nanoClock.getAsLong();
        List<HostRow> rows = new ArrayList<>();
        for (Name name : names.values()) {
            Answer a = name.answer;
            if (a == null) {
                rows.add(new HostRow(name.host, 0, ""));
                continue;
            }
            long ttl = name.inFlight.get() != null ? 0 : Math.max(0, TimeUnit.NANOSECONDS.toSeconds(a.expiresAt - now));
            StringJoiner addrs = new StringJoiner(",");
            for (InetAddress address : a.addresses) {
                String text = NetUtil.toAddressString(address);
                addrs.add(address instanceof Inet6Address ? "[" + text + "]:0" : text + ":0");
            }
            rows.add(new HostRow(name.host, ttl, addrs.toString()));
        }
        rows.sort(Comparator.comparing(HostRow::hostname));
        return rows;
    }

    /** SHOW DNS_HOSTS as PgBouncer answers it: hostname, ttl (int8), addrs. */
    public ConsoleTable hostsTable() {
        ConsoleTable table = ConsoleTable.typed("hostname", 25, "ttl", 20, "addrs", 25);
        for (HostRow row : hosts()) {
            table.row(row.hostname(), row.ttl(), row.addrs());
        }
        return table;
    }

    private boolean isFresh(Answer a) {
        return nanoClock.getAsLong() - a.expiresAt < 0;
    }

    /** The lookup of this name in flight, started here if there is none. */
    private CompletableFuture<Answer> query(Name name) {
        while (true) {
            CompletableFuture<Answer> running = name.inFlight.get();
            if (running != null) {
                return running;
            }
            CompletableFuture<Answer> mine = new CompletableFuture<>();
            if (!name.inFlight.compareAndSet(null, mine)) {
                continue;
            }
            Answer latest = name.answer;
            if (latest != null && isFresh(latest)) {
                // A lookup ended between the caller's look at the cache and here.
                name.inFlight.set(null);
                mine.complete(latest);
                return mine;
            }
            try {
                executor.execute(() -> finish(name, mine, ask(name.host)));
            } catch (RejectedExecutionException e) {
                finish(name, mine, failed(name.host, "no thread to look it up"));
            }
            return mine;
        }
    }

    private Answer ask(String host) {
        try {
            InetAddress[] found = lookup.lookup(host);
            if (found == null || found.length == 0) {
                return failed(host, "no addresses");
            }
            long now = nanoClock.getAsLong();
            Answer a = new Answer(List.of(found), null, now + TimeUnit.MICROSECONDS.toNanos(maxTtlMicros.getAsLong()));
            log.debug("DNS: {} = {}", host, a.addresses);
            return a;
        } catch (UnknownHostException e) {
            String why = e.getMessage() == null ? "" : e.getMessage();
            if (why.startsWith(host + ": ")) {
                why = why.substring(host.length() + 2);
            }
            return failed(host, why.equals(host) ? "" : why);
        } catch (RuntimeException e) {
            return failed(host, e.toString());
        }
    }

    private Answer failed(String host, String why) {
        String text = "DNS lookup failed: " + host + (why.isEmpty() ? "" : ": " + why);
        log.warn(text);
        long expires = nanoClock.getAsLong() + TimeUnit.MICROSECONDS.toNanos(nxdomainTtlMicros.getAsLong());
        return new Answer(List.of(), new UnknownHostException(text), expires);
    }

    private static void finish(Name name, CompletableFuture<Answer> mine, Answer answer) {
        // The answer is in place before the lookup is no longer in flight, so no caller sees neither.
        name.answer = answer;
        name.inFlight.set(null);
        mine.complete(answer);
    }

    private static Executor lookupThreads() {
        ThreadPoolExecutor pool = new ThreadPoolExecutor(4, 4, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
                new DefaultThreadFactory("pgsvc-dns", true));
        pool.allowCoreThreadTimeOut(true);
        return pool;
    }

    /** What is known of one host name. */
    private static final class Name {
        final String host;
        /** The latest answer, null until the first lookup ends. */
        volatile Answer answer;
        final AtomicReference<CompletableFuture<Answer>> inFlight = new AtomicReference<>();

        Name(String host) {
            this.host = host;
        }
    }

    /** One lookup's result: addresses, or the failure; either is good until {@code expiresAt} (nanoClock time). */
    private static final class Answer {
        final List<InetAddress> addresses;
        final UnknownHostException failure;
        final long expiresAt;
        private final AtomicInteger next = new AtomicInteger();

        Answer(List<InetAddress> addresses, UnknownHostException failure, long expiresAt) {
            this.addresses = addresses;
            this.failure = failure;
            this.expiresAt = expiresAt;
        }

        InetAddress nextAddress() {
            return addresses.get(Math.floorMod(next.getAndIncrement(), addresses.size()));
        }
    }
}
