using System.Text.Json;
using System.Text.RegularExpressions;
using LayerStats.Tests.EndToEnd;

namespace LayerStats.Tests.Html;

/// <summary>Writes a report with the CLI as a user would, and takes a written page apart: its data block and its script.</summary>
internal static partial class HtmlPage
{
    public const string DataOpen = "<script type=\"application/json\" id=\"layerstats-data\">";

    public static string Write(CliHarness cli, string name = "report.html", params string[] extra)
    {
        string path = Path.Combine(cli.Dir, name);
        var (exit, stdout, stderr) = cli.Run(["report", "html", "--db", cli.Database, "--out", path, .. extra]);
        Assert.True(exit == 0, $"report html exited {exit}: {stdout}{stderr}");
        return path;
    }

    /// <summary>The JSON text between the data block's tags.</summary>
    public static string DataText(string html)
    {
        int start = html.IndexOf(DataOpen, StringComparison.Ordinal);
        Assert.True(start >= 0, "the page has no data block");
        start += DataOpen.Length;
        int end = html.IndexOf("</script>", start, StringComparison.Ordinal);
        return html[start..end];
    }

    public static JsonElement Section(JsonDocument data, string name) => data.RootElement.GetProperty("sections").GetProperty(name);

    /// <summary>A section's rows as column → value maps.</summary>
    public static List<Dictionary<string, JsonElement>> Rows(JsonDocument data, string name)
    {
        var section = Section(data, name);
        var columns = section.GetProperty("columns").EnumerateArray().Select(c => c.GetString()!).ToList();
        return section.GetProperty("rows").EnumerateArray()
            .Select(r => r.EnumerateArray().Select((v, i) => (columns[i], v)).ToDictionary(x => x.Item1, x => x.v))
            .ToList();
    }

    /// <summary>The inline script (the last script element): the page's own code.</summary>
    public static string Script(string html)
    {
        int start = html.LastIndexOf("<script>", StringComparison.Ordinal);
        int end = html.LastIndexOf("</script>", StringComparison.Ordinal);
        Assert.True(start >= 0 && end > start, "the page has no inline script");
        return html[(start + "<script>".Length)..end];
    }

    /// <summary>The part of a dumped DOM from one element's id to the next id given (a section of the page).</summary>
    public static string Between(string dom, string fromId, string toId)
    {
        int start = dom.IndexOf($"id=\"{fromId}\"", StringComparison.Ordinal);
        int end = dom.IndexOf($"id=\"{toId}\"", start + 1, StringComparison.Ordinal);
        Assert.True(start >= 0 && end > start, $"the DOM has no #{fromId} before #{toId}");
        return dom[start..end];
    }

    public static int Count(string text, string what) => Regex.Count(text, Regex.Escape(what));

    [GeneratedRegex("<title>(.*?)</title>", RegexOptions.Singleline)]
    public static partial Regex Title();
}
