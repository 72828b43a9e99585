using System.Buffers.Binary;
using System.Text;

namespace MailScanner.Actors.Tests.TestSupport;

/// <summary>
/// Writes Outlook .msg files (MS-OXMSG over an MS-CFB version 3 compound file) for the specs, so that no binary is
/// checked in: bodies as <c>__substg1.0_1000001F</c> (plain, UTF-16) and <c>__substg1.0_10130102</c> (HTML), and
/// attachments as <c>__attach_version1.0_#XXXXXXXX</c> storages with a long file name and either their data or an
/// attached message. Streams under 4096 bytes go to the mini stream, as Outlook writes them. A
/// <see cref="Damage"/> writes the file with one structural lie, for the reader's specs. Only the BCL, so that the
/// bench compiles it with <see cref="HostileCorpus"/>.
/// </summary>
public static class OutlookMessageWriter
{
    /// <summary>A message; <paramref name="Rtf"/> is the PR_RTF_COMPRESSED stream as it is (see <see cref="CompressedRtf"/>).</summary>
    public sealed record Message(string? Body, string? Html, IReadOnlyList<Attachment> Attachments, byte[]? Rtf = null);

    /// <summary>
    /// An RTF body compressed as MS-OXRTFCP describes ("LZFu"), with literals only (a control byte of zero before every
    /// eight bytes): valid, if not small. <paramref name="declaredSize"/> overrides the uncompressed size in the header.
    /// </summary>
    public static byte[] CompressedRtf(string rtf, int? declaredSize = null)
    {
        var raw = Encoding.ASCII.GetBytes(rtf);
        var body = new List<byte>();
        foreach (var run in raw.Chunk(8))
        {
            body.Add(0);
            body.AddRange(run);
        }
        var header = new byte[16];
        BinaryPrimitives.WriteInt32LittleEndian(header, body.Count + 12);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(4), declaredSize ?? raw.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(8), 0x75465A4C); // "LZFu"
        return [.. header, .. body];
    }

    /// <summary>A file attachment (<paramref name="Data"/>), an attached message (<paramref name="Embedded"/>) or an embedded OLE object's storage (<paramref name="Ole"/>).</summary>
    public sealed record Attachment(string FileName, byte[]? Data = null, Message? Embedded = null, IReadOnlyList<Node>? Ole = null);

    /// <summary>The one lie a damaged file tells.</summary>
    public enum Damage
    {
        None,
        /// <summary>The last sector of the first regular (4096 bytes or more) stream points back to its first sector.</summary>
        SectorChainLoop,
        /// <summary>The first attachment storage's child is its own right sibling.</summary>
        DirectoryCycle,
        /// <summary>The first regular stream declares a size far beyond the file.</summary>
        SizeBeyondFile,
        /// <summary>The first regular stream's chain ends one sector early.</summary>
        ChainEndsEarly,
        /// <summary>The second attachment storage's children are the first one's: entries shared by two storages.</summary>
        SharedEntries,
    }

    public static byte[] Write(Message message, Damage damage = Damage.None) =>
        CompoundFileWriter.Write(Storage("Root Entry", message, topLevel: true), damage);

    private static Node Storage(string name, Message message, bool topLevel)
    {
        var children = new List<Node>
        {
            // The property stream's header: 32 bytes at the top, 24 in an attached message; no fixed-size properties.
            Node.Stream("__properties_version1.0", new byte[topLevel ? 32 : 24]),
        };
        if (message.Body is { } body) children.Add(Node.Stream("__substg1.0_1000001F", Encoding.Unicode.GetBytes(body)));
        if (message.Html is { } html) children.Add(Node.Stream("__substg1.0_10130102", Encoding.UTF8.GetBytes(html)));
        if (message.Rtf is { } rtf) children.Add(Node.Stream("__substg1.0_10090102", rtf));
        for (var i = 0; i < message.Attachments.Count; i++)
        {
            var attachment = message.Attachments[i];
            var parts = new List<Node>
            {
                Node.Stream("__properties_version1.0", new byte[8]),
                Node.Stream("__substg1.0_3707001F", Encoding.Unicode.GetBytes(attachment.FileName)),
            };
            if (attachment.Data is { } data) parts.Add(Node.Stream("__substg1.0_37010102", data));
            if (attachment.Embedded is { } embedded) parts.Add(Storage("__substg1.0_3701000D", embedded, topLevel: false));
            if (attachment.Ole is { } ole) parts.Add(Node.Folder("__substg1.0_3701000D", ole));
            children.Add(Node.Folder($"__attach_version1.0_#{i:X8}", parts));
        }
        return Node.Folder(name, children);
    }

    /// <summary>A storage (children) or a stream (data) of a compound file.</summary>
    public sealed record Node(string Name, byte[]? Data, IReadOnlyList<Node> Children)
    {
        public static Node Stream(string name, byte[] data) => new(name, data, []);
        public static Node Folder(string name, IReadOnlyList<Node> children) => new(name, null, children);
    }

    /// <summary>A compound file writer: version 3 (512-byte sectors), no DIFAT sectors (files up to about 7 MB).</summary>
    public static class CompoundFileWriter
    {
        private const int SectorSize = 512, MiniSectorSize = 64, Cutoff = 4096;
        private const uint EndOfChain = 0xFFFFFFFE, Free = 0xFFFFFFFF, FatSector = 0xFFFFFFFD, NoStream = 0xFFFFFFFF;

        private sealed class Entry(Node node, int id)
        {
            public Node Node { get; } = node;
            public int Id { get; } = id;
            public uint Left { get; set; } = NoStream;
            public uint Right { get; set; } = NoStream;
            public uint Child { get; set; } = NoStream;
            public uint Start { get; set; } = EndOfChain;
            public long Size { get; set; }
        }

        public static byte[] Write(Node root, Damage damage = Damage.None)
        {
            var entries = new List<Entry>();
            Flatten(root, entries);

            // The mini stream: every small stream, each padded to whole mini sectors, chained in the mini FAT.
            var mini = new MemoryStream();
            var miniFat = new List<uint>();
            foreach (var e in entries.Where(e => e.Node.Data is { Length: > 0 and < Cutoff }))
            {
                var data = e.Node.Data!;
                e.Start = (uint)miniFat.Count;
                e.Size = data.Length;
                var count = (data.Length + MiniSectorSize - 1) / MiniSectorSize;
                for (var i = 0; i < count; i++) miniFat.Add(i == count - 1 ? EndOfChain : (uint)(miniFat.Count + 1));
                mini.Write(data);
                mini.Write(new byte[count * MiniSectorSize - data.Length]);
            }

            // Regular sectors, in order: the mini stream, the large streams, the directory, the mini FAT, the FAT.
            var sectors = new List<byte[]>();
            var fat = new List<uint>();
            uint Chain(byte[] bytes)
            {
                if (bytes.Length == 0) return EndOfChain;
                var first = (uint)sectors.Count;
                var count = (bytes.Length + SectorSize - 1) / SectorSize;
                for (var i = 0; i < count; i++)
                {
                    var sector = new byte[SectorSize];
                    bytes.AsSpan(i * SectorSize, Math.Min(SectorSize, bytes.Length - i * SectorSize)).CopyTo(sector);
                    sectors.Add(sector);
                    fat.Add(i == count - 1 ? EndOfChain : (uint)sectors.Count);
                }
                return first;
            }
            entries[0].Start = Chain(mini.ToArray());
            entries[0].Size = mini.Length;
            Entry? firstLarge = null;
            foreach (var e in entries.Where(e => e.Node.Data is { Length: >= Cutoff }))
            {
                e.Start = Chain(e.Node.Data!);
                e.Size = e.Node.Data!.Length;
                firstLarge ??= e;
            }
            switch (damage)
            {
                case Damage.SectorChainLoop when firstLarge is not null:
                    fat[(int)firstLarge.Start + (int)((firstLarge.Size + SectorSize - 1) / SectorSize) - 1] = firstLarge.Start;
                    firstLarge.Size += SectorSize; // asks for one sector more than the chain holds: the loop is followed
                    break;
                case Damage.ChainEndsEarly when firstLarge is not null:
                    fat[(int)firstLarge.Start + (int)((firstLarge.Size + SectorSize - 1) / SectorSize) - 2] = EndOfChain;
                    break;
                case Damage.SizeBeyondFile when firstLarge is not null:
                    firstLarge.Size = 1L << 31;
                    break;
                case Damage.DirectoryCycle:
                    var attachment = entries.First(e => e.Node.Name.StartsWith("__attach", StringComparison.Ordinal));
                    entries[(int)attachment.Child].Right = attachment.Child;
                    break;
                case Damage.SharedEntries:
                    var attachments = entries.Where(e => e.Node.Name.StartsWith("__attach", StringComparison.Ordinal)).ToList();
                    attachments[1].Child = attachments[0].Child;
                    break;
            }
            var directoryStart = Chain(Directory(entries));
            var miniFatBytes = new byte[miniFat.Count * 4];
            for (var i = 0; i < miniFat.Count; i++) BinaryPrimitives.WriteUInt32LittleEndian(miniFatBytes.AsSpan(i * 4), miniFat[i]);
            var miniFatStart = Chain(miniFatBytes);
            var miniFatSectors = (miniFatBytes.Length + SectorSize - 1) / SectorSize;

            // The FAT covers every sector, its own included.
            var fatSectors = 0;
            while (fatSectors * (SectorSize / 4) < sectors.Count + fatSectors) fatSectors++;
            if (fatSectors > 109) throw new InvalidOperationException("too large for a compound file without DIFAT sectors");
            var fatStart = sectors.Count;
            for (var i = 0; i < fatSectors; i++) fat.Add(FatSector);
            var fatBytes = new byte[fatSectors * SectorSize];
            for (var i = 0; i < fatBytes.Length / 4; i++) BinaryPrimitives.WriteUInt32LittleEndian(fatBytes.AsSpan(i * 4), i < fat.Count ? fat[i] : Free);
            for (var i = 0; i < fatSectors; i++) sectors.Add(fatBytes[(i * SectorSize)..((i + 1) * SectorSize)]);

            var header = new byte[SectorSize];
            var h = header.AsSpan();
            CompoundSignature.CopyTo(h);
            BinaryPrimitives.WriteUInt16LittleEndian(h[24..], 0x003E);
            BinaryPrimitives.WriteUInt16LittleEndian(h[26..], 3);
            BinaryPrimitives.WriteUInt16LittleEndian(h[28..], 0xFFFE);
            BinaryPrimitives.WriteUInt16LittleEndian(h[30..], 9);
            BinaryPrimitives.WriteUInt16LittleEndian(h[32..], 6);
            BinaryPrimitives.WriteUInt32LittleEndian(h[44..], (uint)fatSectors);
            BinaryPrimitives.WriteUInt32LittleEndian(h[48..], directoryStart);
            BinaryPrimitives.WriteUInt32LittleEndian(h[56..], Cutoff);
            BinaryPrimitives.WriteUInt32LittleEndian(h[60..], miniFatSectors == 0 ? EndOfChain : miniFatStart);
            BinaryPrimitives.WriteUInt32LittleEndian(h[64..], (uint)miniFatSectors);
            BinaryPrimitives.WriteUInt32LittleEndian(h[68..], EndOfChain);
            for (var i = 0; i < 109; i++) BinaryPrimitives.WriteUInt32LittleEndian(h[(76 + 4 * i)..], i < fatSectors ? (uint)(fatStart + i) : Free);
            return [.. header, .. sectors.SelectMany(s => s)];
        }

        private static ReadOnlySpan<byte> CompoundSignature => [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

        /// <summary>Numbers the entries depth first; each storage's children hang off it as a chain of right siblings.</summary>
        private static Entry Flatten(Node node, List<Entry> entries)
        {
            var entry = new Entry(node, entries.Count);
            entries.Add(entry);
            Entry? previous = null;
            foreach (var child in node.Children)
            {
                var added = Flatten(child, entries);
                if (previous is null) entry.Child = (uint)added.Id;
                else previous.Right = (uint)added.Id;
                previous = added;
            }
            return entry;
        }

        private static byte[] Directory(List<Entry> entries)
        {
            var count = (entries.Count + 3) / 4 * 4;
            var bytes = new byte[count * 128];
            for (var i = 0; i < count; i++)
            {
                var d = bytes.AsSpan(i * 128, 128);
                if (i >= entries.Count)
                {
                    BinaryPrimitives.WriteUInt32LittleEndian(d[68..], NoStream);
                    BinaryPrimitives.WriteUInt32LittleEndian(d[72..], NoStream);
                    BinaryPrimitives.WriteUInt32LittleEndian(d[76..], NoStream);
                    continue;
                }
                var e = entries[i];
                var name = Encoding.Unicode.GetBytes(e.Node.Name);
                name.CopyTo(d);
                BinaryPrimitives.WriteUInt16LittleEndian(d[64..], (ushort)(name.Length + 2));
                d[66] = (byte)(i == 0 ? 5 : e.Node.Data is null ? 1 : 2);
                d[67] = 1; // black
                BinaryPrimitives.WriteUInt32LittleEndian(d[68..], e.Left);
                BinaryPrimitives.WriteUInt32LittleEndian(d[72..], e.Right);
                BinaryPrimitives.WriteUInt32LittleEndian(d[76..], e.Child);
                BinaryPrimitives.WriteUInt32LittleEndian(d[116..], e.Node.Data is { Length: 0 } ? EndOfChain : e.Start);
                BinaryPrimitives.WriteUInt32LittleEndian(d[120..], (uint)e.Size);
            }
            return bytes;
        }
    }
}
