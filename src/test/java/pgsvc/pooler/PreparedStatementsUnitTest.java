package pgsvc.pooler;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import pgsvc.pooler.PreparedStatements.Statement;

/**
 * The pieces of prepared-statement tracking without a server: the pooler-wide registry, a client's names, a server's
 * LRU, the SQL recognised, and the tracker's rewriting of a stream against scripted server responses.
 */
class PreparedStatementsUnitTest {
    private final EmbeddedChannel client = new EmbeddedChannel();
    private final List<ByteBuf> toServer = new ArrayList<>();
    private final List<ByteBuf> toClient = new ArrayList<>();

    @AfterEach
    void releaseAll() {
        toServer.forEach(ByteBuf::release);
        toClient.forEach(ByteBuf::release);
        client.finishAndReleaseAll();
    }

    @Test
    void theRegistrySharesOneStatementPerQueryAndParameterTypes() {
        PreparedStatements registry = new PreparedStatements();
        Statement a = registry.intern(body("SELECT $1", 23));
        Statement again = registry.intern(body("SELECT $1", 23));
        Statement otherType = registry.intern(body("SELECT $1", 25));
        Statement untyped = registry.intern(body("SELECT $1"));
        assertSame(a, again);
        assertNotSame(a, otherType);
        assertNotSame(a, untyped);
        assertEquals("PGSVC_" + a.id, new String(a.serverName, StandardCharsets.US_ASCII));
        assertTrue(a.id > 0, "PGSVC_0 is never given out");
        assertEquals(3, registry.size());
    }

    @Test
    void namesAreLookedUpInPlaceAndSurviveRemovals() {
        PreparedStatements registry = new PreparedStatements();
        StatementNames names = new StatementNames();
        Map<String, Statement> model = new HashMap<>();
        Random random = new Random(42);
        for (int step = 0; step < 5000; step++) {
            String name = "S_" + random.nextInt(300);
            byte[] key = name.getBytes(StandardCharsets.UTF_8);
            if (random.nextInt(3) == 0) {
                assertSame(model.remove(name), names.remove(key), name);
            } else if (!model.containsKey(name)) {
                Statement s = registry.intern(body("SELECT " + step));
                model.put(name, s);
                names.put(key, s);
            }
            assertEquals(model.size(), names.size());
        }
        for (int i = 0; i < 300; i++) {
            String name = "S_" + i;
            ByteBuf inBatch = Unpooled.copiedBuffer("xx" + name + "\0", StandardCharsets.UTF_8);
            assertSame(model.get(name), names.get(inBatch, 2, name.length()), name);
            inBatch.release();
        }
        Statement s = model.values().iterator().next();
        byte[] fresh = "fresh".getBytes(StandardCharsets.UTF_8);
        assertTrue(names.putIfAbsent(fresh, s));
        assertFalse(names.putIfAbsent(fresh, registry.intern(body("other"))));
        assertFalse(names.remove(fresh, registry.intern(body("other"))));
        assertTrue(names.remove(fresh, s));
        names.clear();
        assertTrue(names.isEmpty());
    }

    @Test
    void theServerLruEvictsTheLeastRecentlyUsed() {
        PreparedStatements registry = new PreparedStatements();
        Statement a = registry.intern(body("a"));
        Statement b = registry.intern(body("b"));
        Statement c = registry.intern(body("c"));
        ServerStatements lru = new ServerStatements();
        lru.add(a);
        lru.add(b);
        lru.add(c);
        assertTrue(lru.touch(a));
        assertSame(b, lru.removeEldest());
        assertSame(c, lru.removeEldest());
        assertFalse(lru.touch(b));
        assertEquals(1, lru.size());
        lru.clear();
        assertNull(lru.removeEldest());
    }

    @Test
    void deallocateOfOneNameIsRecognisedAsPostgreSqlParsesIt() {
        assertEquals("s1", deallocate("DEALLOCATE s1"));
        assertEquals("s1", deallocate("  deallocate   PREPARE S1 ;  "));
        assertEquals("S_1", deallocate("DEALLOCATE \"S_1\""));
        assertEquals("a\"b", deallocate("DEALLOCATE \"a\"\"b\";"));
        assertEquals("prepare", deallocate("DEALLOCATE prepare"));
        assertEquals("all", deallocate("DEALLOCATE \"all\""));
        assertNull(deallocate("DEALLOCATE ALL"));
        assertNull(deallocate("DEALLOCATE PREPARE all;"));
        assertNull(deallocate("DEALLOCATE s1; SELECT 1"));
        assertNull(deallocate("DEALLOCATEs1"));
        assertNull(deallocate("DEALLOCATE"));
        assertNull(deallocate("SELECT 1"));
        assertNull(deallocate("DEALLOCATE \"\""));
    }

    @Test
    void dropAllTagsAreRecognised() {
        assertTrue(dropsAll("DISCARD ALL"));
        assertTrue(dropsAll("DEALLOCATE ALL"));
        assertFalse(dropsAll("DEALLOCATE"));
        assertFalse(dropsAll("DISCARD PLANS"));
        assertFalse(dropsAll("SELECT 1"));
    }

    @Test
    void aBindOfAStatementTheServerLacksGetsItsParseInjectedAndTheReplySwallowed() {
        PreparedStatements registry = new PreparedStatements();
        StatementTracker tracker = new StatementTracker(registry, client);
        ServerStatements first = new ServerStatements();
        tracker.link(first, 10);
        clientSends(tracker, parse("s1", "SELECT 1"), sync());
        assertEquals(List.of("P:PGSVC_1", "S"), sentFrames());
        serverSends(tracker, "1", "Z");
        assertEquals("1Z", clientTypes());
        assertTrue(tracker.idle());
        tracker.unlink();

        // Another server: the Bind is preceded by the Parse it needs, and only the Bind's answer reaches the client.
        tracker.link(new ServerStatements(), 10);
        ByteBuf params = Unpooled.wrappedBuffer(new byte[] {0, 0, 0, 1, 0, 0, 0, 1, '7', 0, 0});
        clientSends(tracker, bind("", "s1", params), execute(), sync());
        assertEquals(List.of("P:PGSVC_1", "B:PGSVC_1", "E", "S"), sentFrames());
        assertFalse(tracker.idle());
        serverSends(tracker, "1", "2", "C", "Z");
        assertEquals("2CZ", clientTypes());
        assertTrue(tracker.idle());

        // The same server again: nothing injected, the Bind's parameters go out byte for byte.
        clientSends(tracker, bind("", "s1", params), execute(), sync());
        List<ByteBuf> frames = frames();
        assertEquals("B:PGSVC_1", describe(frames.get(0)));
        ByteBuf b = frames.get(0);
        assertArrayEquals(new byte[] {0, 0, 0, 1, 0, 0, 0, 1, '7', 0, 0},
                ByteBufUtil.getBytes(b, b.readableBytes() - 11, 11));
        frames.forEach(ByteBuf::release);
        params.release();
    }

    @Test
    void pooledAnswersGoInTheirPlaceAndASkippedSegmentIsUndone() {
        PreparedStatements registry = new PreparedStatements();
        StatementTracker tracker = new StatementTracker(registry, client);
        ServerStatements lru = new ServerStatements();
        tracker.link(lru, 10);
        clientSends(tracker, parse("a", "SELECT 1"), sync());
        sentFrames();
        serverSends(tracker, "1", "Z");
        clientTypes();
        // Executes, then a Parse the server has (answered by the pooler between the two BindCompletes), then a Close.
        clientSends(tracker, bind("", ""), execute(), parse("b", "SELECT 1"), bind("", "b"), close("b"), sync());
        assertEquals(List.of("B:", "E", "B:PGSVC_1", "S"), sentFrames());
        serverSends(tracker, "2", "C", "2", "Z");
        assertEquals("2C123Z", clientTypes());

        // A Parse that fails: what follows it in the segment is skipped by the server and undone here.
        clientSends(tracker, parse("c", "SELEC"), parse("d", "SELECT 1"), close("a"), sync());
        assertEquals(List.of("P:PGSVC_2", "S"), sentFrames());
        serverSends(tracker, "E", "Z");
        assertEquals("EZ", clientTypes());
        assertTrue(tracker.idle());
        // a is still there (its Close was skipped), c and d are not: Bind of a is renamed, of c and d passed as is.
        clientSends(tracker, bind("", "a"), bind("", "c"), bind("", "d"), sync());
        assertEquals(List.of("B:PGSVC_1", "B:c", "B:d", "S"), sentFrames());
        assertFalse(lru.contains(registry.intern(body("SELEC"))));
    }

    // ---- helpers ----------------------------------------------------------------------------------------------------

    private void clientSends(StatementTracker tracker, ByteBuf... frames) {
        ByteBuf batch = Unpooled.wrappedBuffer(frames);
        Splice out = new Splice(toServer::add);
        out.begin(batch);
        for (int i = batch.readerIndex(); i < batch.writerIndex(); ) {
            int length = 1 + batch.getInt(i + 1);
            tracker.clientMessage(batch, i, length, batch.getByte(i), out);
            i += length;
        }
        out.finish(batch.writerIndex());
    }

    private void serverSends(StatementTracker tracker, String... types) {
        ByteBuf batch = Unpooled.buffer();
        for (String t : types) {
            batch.writeByte(t.charAt(0));
            if (t.equals("Z")) {
                batch.writeInt(5).writeByte('I');
            } else if (t.equals("C")) {
                batch.writeInt(4 + 9).writeBytes("SELECT 1\0".getBytes(StandardCharsets.US_ASCII));
            } else if (t.equals("E")) {
                batch.writeInt(4 + 1).writeByte(0);
            } else {
                batch.writeInt(4);
            }
        }
        Splice out = new Splice(toClient::add);
        out.begin(batch);
        for (int i = batch.readerIndex(); i < batch.writerIndex(); ) {
            int length = 1 + batch.getInt(i + 1);
            assertTrue(tracker.serverMessage(batch, i, length, batch.getByte(i), out));
            i += length;
        }
        out.finish(batch.writerIndex());
    }

    /** What went to the server since the last call, one description per frame ("B:name" for Bind and Parse). */
    private List<String> sentFrames() {
        List<String> out = new ArrayList<>();
        List<ByteBuf> frames = frames();
        for (ByteBuf f : frames) {
            out.add(describe(f));
            f.release();
        }
        return out;
    }

    private List<ByteBuf> frames() {
        ByteBuf all = Unpooled.wrappedBuffer(toServer.toArray(new ByteBuf[0]));
        toServer.clear();
        List<ByteBuf> frames = new ArrayList<>();
        while (all.isReadable()) {
            frames.add(all.readRetainedSlice(1 + all.getInt(all.readerIndex() + 1)));
        }
        all.release();
        return frames;
    }

    private static String describe(ByteBuf frame) {
        char type = (char) frame.getByte(frame.readerIndex());
        int body = frame.readerIndex() + 5;
        return switch (type) {
            case 'P' -> "P:" + cString(frame, body);
            case 'B' -> "B:" + cString(frame, frame.indexOf(body, frame.writerIndex(), (byte) 0) + 1);
            default -> String.valueOf(type);
        };
    }

    /** Types of what reached the client since the last call: spliced batches and the tracker's direct answers. */
    private String clientTypes() {
        StringBuilder b = new StringBuilder();
        List<ByteBuf> all = new ArrayList<>();
        client.flush();
        ByteBuf direct;
        while ((direct = client.readOutbound()) != null) {
            all.add(direct);
        }
        all.addAll(toClient);
        toClient.clear();
        for (ByteBuf buf : all) {
            for (int i = buf.readerIndex(); i < buf.writerIndex(); i += 1 + buf.getInt(i + 1)) {
                b.append((char) buf.getByte(i));
            }
            buf.release();
        }
        return b.toString();
    }

    private static String cString(ByteBuf b, int at) {
        return b.toString(at, b.indexOf(at, b.writerIndex(), (byte) 0) - at, StandardCharsets.UTF_8);
    }

    private static String deallocate(String sql) {
        ByteBuf b = Unpooled.copiedBuffer(sql + "\0", StandardCharsets.UTF_8);
        try {
            byte[] name = StatementSql.deallocateName(b, 0, b.writerIndex() - 1);
            return name == null ? null : new String(name, StandardCharsets.UTF_8);
        } finally {
            b.release();
        }
    }

    private static boolean dropsAll(String tag) {
        ByteBuf b = Unpooled.buffer();
        b.writeByte('C').writeInt(4 + tag.length() + 1).writeBytes(tag.getBytes(StandardCharsets.US_ASCII))
                .writeByte(0);
        try {
            return StatementSql.dropsAllStatements(b, 0, b.readableBytes());
        } finally {
            b.release();
        }
    }

    private static byte[] body(String sql, int... types) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.writeBytes(sql.getBytes(StandardCharsets.UTF_8));
        b.write(0);
        b.writeBytes(ByteBuffer.allocate(2).putShort((short) types.length).array());
        for (int t : types) {
            b.writeBytes(ByteBuffer.allocate(4).putInt(t).array());
        }
        return b.toByteArray();
    }

    private static ByteBuf parse(String name, String sql) {
        ByteBuf b = Unpooled.buffer();
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        byte[] rest = body(sql);
        b.writeByte('P').writeInt(4 + n.length + 1 + rest.length).writeBytes(n).writeByte(0).writeBytes(rest);
        return b;
    }

    private static ByteBuf bind(String portal, String statement) {
        ByteBuf noParams = Unpooled.wrappedBuffer(new byte[6]);
        try {
            return bind(portal, statement, noParams);
        } finally {
            noParams.release();
        }
    }

    /** A Bind; {@code rest} (formats, parameters, result formats) is copied, not taken over. */
    private static ByteBuf bind(String portal, String statement, ByteBuf rest) {
        byte[] p = portal.getBytes(StandardCharsets.UTF_8);
        byte[] s = statement.getBytes(StandardCharsets.UTF_8);
        ByteBuf b = Unpooled.buffer();
        b.writeByte('B').writeInt(4 + p.length + 1 + s.length + 1 + rest.readableBytes());
        b.writeBytes(p).writeByte(0).writeBytes(s).writeByte(0).writeBytes(rest, rest.readerIndex(),
                rest.readableBytes());
        return b;
    }

    private static ByteBuf execute() {
        return Unpooled.buffer().writeByte('E').writeInt(9).writeByte(0).writeInt(0);
    }

    private static ByteBuf close(String name) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        return Unpooled.buffer().writeByte('C').writeInt(4 + 1 + n.length + 1).writeByte('S').writeBytes(n)
                .writeByte(0);
    }

    private static ByteBuf sync() {
        return Unpooled.buffer().writeByte('S').writeInt(4);
    }
}
