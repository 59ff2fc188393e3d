package pgsvc.pooler;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import io.netty.channel.DefaultEventLoop;
import io.netty.util.concurrent.Future;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The resolver's cache without a network: lookups answer from a map, run only when the test says so (so that several
 * callers can be caught waiting on one), and time is a counter the test moves. dns_max_ttl is 15 s and
 * dns_nxdomain_ttl 5 s here, so which of the two applied shows.
 */
class DnsUnitTest {
    private static final long SECOND = TimeUnit.SECONDS.toNanos(1);

    private final Map<String, InetAddress[]> zone = new ConcurrentHashMap<>();
    private final Map<String, AtomicInteger> lookups = new ConcurrentHashMap<>();
    private final ArrayDeque<Runnable> queued = new ArrayDeque<>();
    private final AtomicLong now = new AtomicLong(1_000 * SECOND);
    private final AtomicLong maxTtlMicros = new AtomicLong(15_000_000);
    private final DefaultEventLoop loop = new DefaultEventLoop();
    private final DefaultEventLoop otherLoop = new DefaultEventLoop();
    private final Dns dns = new Dns(this::lookup, queued::add, now::get, maxTtlMicros::get, () -> 5_000_000);

    @AfterEach
    void stopLoops() {
        loop.shutdownGracefully(0, 0, TimeUnit.SECONDS).syncUninterruptibly();
        otherLoop.shutdownGracefully(0, 0, TimeUnit.SECONDS).syncUninterruptibly();
    }

    private InetAddress[] lookup(String host) throws UnknownHostException {
        lookups.computeIfAbsent(host, h -> new AtomicInteger()).incrementAndGet();
        InetAddress[] found = zone.get(host);
        if (found == null) {
            throw new UnknownHostException(host + ": Name or service not known");
        }
        return found;
    }

    private int lookupsOf(String host) {
        AtomicInteger n = lookups.get(host);
        return n == null ? 0 : n.get();
    }

    /** Runs the lookups queued so far, as the lookup threads would. */
    private int runLookups() {
        int n = 0;
        Runnable r;
        while ((r = queued.poll()) != null) {
            r.run();
            n++;
        }
        return n;
    }

    private static InetAddress ip(String literal) throws UnknownHostException {
        return InetAddress.getByName(literal);
    }

    private static InetAddress get(Future<InetAddress> f) throws Exception {
        return f.get(10, TimeUnit.SECONDS);
    }

    private void advanceSeconds(double seconds) {
        now.addAndGet((long) (seconds * SECOND));
    }

    @Test
    void anAnswerIsServedFromTheCacheWithinDnsMaxTtlAndLookedUpAgainAfter() throws Exception {
        zone.put("db.example", new InetAddress[] {ip("10.0.0.1")});
        Future<InetAddress> first = dns.resolve("db.example", loop);
        assertEquals(1, runLookups());
        assertEquals(ip("10.0.0.1"), get(first));

        zone.put("db.example", new InetAddress[] {ip("10.0.0.2")});
        advanceSeconds(14.9);
        Future<InetAddress> cached = dns.resolve("db.example", loop);
        assertTrue(cached.isDone(), "answered without a lookup");
        assertEquals(ip("10.0.0.1"), get(cached));
        assertEquals(1, lookupsOf("db.example"));

        advanceSeconds(0.1);
        Future<InetAddress> again = dns.resolve("db.example", loop);
        assertFalse(again.isDone(), "the answer is 15 s old: looked up again");
        assertEquals(1, runLookups());
        assertEquals(ip("10.0.0.2"), get(again));
        assertEquals(2, lookupsOf("db.example"));
    }

    @Test
    void aFailureIsCachedForDnsNxdomainTtlNotDnsMaxTtl() throws Exception {
        Future<InetAddress> first = dns.resolve("gone.example", loop);
        runLookups();
        ExecutionException e = assertThrows(ExecutionException.class, () -> get(first));
        UnknownHostException cause = assertInstanceOf(UnknownHostException.class, e.getCause());
        assertEquals("DNS lookup failed: gone.example: Name or service not known", cause.getMessage());

        zone.put("gone.example", new InetAddress[] {ip("10.0.0.3")});
        advanceSeconds(4.9);
        Future<InetAddress> cached = dns.resolve("gone.example", loop);
        assertTrue(cached.isDone(), "the failure answered without a lookup");
        assertFalse(cached.isSuccess());
        assertEquals(1, lookupsOf("gone.example"));

        advanceSeconds(0.1);
        Future<InetAddress> again = dns.resolve("gone.example", loop);
        assertEquals(1, runLookups(), "5 s after the failure, well before dns_max_ttl: looked up again");
        assertEquals(ip("10.0.0.3"), get(again));
    }

    @Test
    void concurrentCallersOfOneNameShareOneLookup() throws Exception {
        zone.put("db.example", new InetAddress[] {ip("10.0.0.1")});
        zone.put("other.example", new InetAddress[] {ip("10.0.0.9")});
        Future<InetAddress> a = dns.resolve("db.example", loop);
        Future<InetAddress> b = dns.resolve("db.example", otherLoop);
        Future<InetAddress> c = dns.resolve("db.example", loop);
        Future<InetAddress> other = dns.resolve("other.example", loop);
        assertEquals(2, queued.size(), "one lookup per name in flight");
        runLookups();
        assertEquals(ip("10.0.0.1"), get(a));
        assertEquals(ip("10.0.0.1"), get(b));
        assertEquals(ip("10.0.0.1"), get(c));
        assertEquals(ip("10.0.0.9"), get(other));
        assertEquals(1, lookupsOf("db.example"));

        // Re-resolving after the ttl is shared the same way.
        advanceSeconds(15);
        Future<InetAddress> d = dns.resolve("db.example", loop);
        Future<InetAddress> e = dns.resolve("db.example", otherLoop);
        assertEquals(1, runLookups());
        assertEquals(ip("10.0.0.1"), get(d));
        assertEquals(ip("10.0.0.1"), get(e));
        assertEquals(2, lookupsOf("db.example"));
    }

    @Test
    void listenersRunOnTheCallersLoop() throws Exception {
        zone.put("db.example", new InetAddress[] {ip("10.0.0.1")});
        Thread loopThread = loop.submit(Thread::currentThread).get(10, TimeUnit.SECONDS);

        // The lookup completes on this (test) thread, standing in for a lookup thread.
        CompletableFuture<Thread> afterLookup = new CompletableFuture<>();
        dns.resolve("db.example", loop).addListener(f -> afterLookup.complete(Thread.currentThread()));
        runLookups();
        assertSame(loopThread, afterLookup.get(10, TimeUnit.SECONDS));

        CompletableFuture<Thread> fromCache = new CompletableFuture<>();
        dns.resolve("db.example", loop).addListener(f -> fromCache.complete(Thread.currentThread()));
        assertSame(loopThread, fromCache.get(10, TimeUnit.SECONDS));

        CompletableFuture<Thread> failure = new CompletableFuture<>();
        dns.resolve("gone.example", loop).addListener(f -> failure.complete(Thread.currentThread()));
        runLookups();
        assertSame(loopThread, failure.get(10, TimeUnit.SECONDS));
    }

    @Test
    void callersTakeTheAddressesInTurnStartingOverWithEachAnswer() throws Exception {
        zone.put("rr.example", new InetAddress[] {ip("10.0.0.1"), ip("10.0.0.2")});
        Future<InetAddress> first = dns.resolve("rr.example", loop);
        runLookups();
        assertEquals(ip("10.0.0.1"), get(first));
        assertEquals(ip("10.0.0.2"), get(dns.resolve("rr.example", loop)));
        assertEquals(ip("10.0.0.1"), get(dns.resolve("rr.example", loop)));

        advanceSeconds(15);
        Future<InetAddress> fresh = dns.resolve("rr.example", loop);
        runLookups();
        assertEquals(ip("10.0.0.1"), get(fresh));
    }

    @Test
    void aZeroDnsMaxTtlLooksUpForEveryCaller() throws Exception {
        maxTtlMicros.set(0);
        zone.put("db.example", new InetAddress[] {ip("10.0.0.1")});
        for (int i = 1; i <= 3; i++) {
            Future<InetAddress> f = dns.resolve("db.example", loop);
            assertEquals(1, runLookups());
            assertEquals(ip("10.0.0.1"), get(f));
            assertEquals(i, lookupsOf("db.example"));
        }
    }

    @Test
    void hostsListsEveryNameWithItsTtlLeftAndAddressesAsPgBouncerPrintsThem() throws Exception {
        zone.put("b.example", new InetAddress[] {ip("10.0.0.1"), ip("fd00::1")});
        dns.resolve("b.example", loop);
        dns.resolve("a.example", loop);
        dns.resolve("c.example", loop);
        runLookups();
        zone.put("c.example", new InetAddress[] {ip("10.0.0.7")});
        dns.resolve("c.example", loop);
        assertEquals(List.of(
                new Dns.HostRow("a.example", 5, ""),
                new Dns.HostRow("b.example", 15, "10.0.0.1:0,[fd00::1]:0"),
                new Dns.HostRow("c.example", 5, "")), dns.hosts());

        advanceSeconds(6.5);
        assertEquals(List.of(
                new Dns.HostRow("a.example", 0, ""),
                new Dns.HostRow("b.example", 8, "10.0.0.1:0,[fd00::1]:0"),
                new Dns.HostRow("c.example", 0, "")), dns.hosts());

        dns.resolve("c.example", loop);
        runLookups();
        assertEquals(new Dns.HostRow("c.example", 15, "10.0.0.7:0"), dns.hosts().get(2));

        ConsoleTable table = dns.hostsTable();
        assertEquals(List.of("hostname", "ttl", "addrs"), table.columns().stream().map(c -> c.name()).toList());
        assertEquals(List.of("b.example", "8", "10.0.0.1:0,[fd00::1]:0"), table.rows().get(1));
    }
}
