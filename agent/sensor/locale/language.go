package locale

import (
	"strings"
)

// The tables here name the language of a layout or input method, so that
// rules can speak of languages rather than of every OS's identifiers. They
// hold the layouts that matter to the rules (Korean, Chinese, Japanese,
// Russian, Vietnamese, Persian) and common Western ones for context; what
// is not in them keeps its identifier and an empty language.

// xkbLanguages maps XKB layout names (the symbols files of xkeyboard-config,
// /usr/share/X11/xkb/symbols/NAME, and its base.lst) to BCP 47 languages.
var xkbLanguages = map[string]string{
	"kr": "ko", "kp": "ko",
	"cn": "zh", "tw": "zh-Hant",
	"jp": "ja",
	"ru": "ru", "by": "be", "ua": "uk",
	"vn": "vi",
	"ir": "fa", "af": "fa",
	"us": "en", "gb": "en", "uk": "en", "au": "en", "ca": "en",
	"de": "de", "at": "de", "ch": "de",
	"fr": "fr", "be": "fr",
	"es": "es", "latam": "es", "it": "it", "pt": "pt", "br": "pt",
	"nl": "nl", "se": "sv", "no": "no", "dk": "da", "fi": "fi", "pl": "pl",
	"cz": "cs", "tr": "tr", "il": "he", "ara": "ar", "in": "hi", "th": "th",
}

func xkbLanguage(layout string) string {
	return xkbLanguages[strings.ToLower(layout)]
}

// keymapLanguage is the language of a Linux console keymap (KEYMAP=, the
// kbd package's keymap names: "kr", "us", "ru", "de-latin1", "jp106").
func keymapLanguage(keymap string) string {
	k := strings.ToLower(keymap)
	if l, ok := xkbLanguages[k]; ok {
		return l
	}
	for _, sep := range []string{"-", "_"} {
		if base, _, ok := strings.Cut(k, sep); ok {
			if l, ok := xkbLanguages[base]; ok {
				return l
			}
		}
	}
	if strings.HasPrefix(k, "jp") {
		return "ja"
	}
	return ""
}

// imLanguages maps input method engine names (fcitx5, fcitx 4 and ibus;
// their engines are named for what they are) to languages.
var imLanguages = map[string]string{
	"hangul": "ko", "kime": "ko", "nabi": "ko", "byeoru": "ko",
	"pinyin": "zh", "shuangpin": "zh", "libpinyin": "zh", "sunpinyin": "zh", "googlepinyin": "zh",
	"wbx": "zh", "wubi": "zh", "cloudpinyin": "zh", "rime": "zh", "table": "zh",
	"chewing": "zh-Hant", "zhuyin": "zh-Hant", "cangjie": "zh-Hant", "quick": "zh-Hant",
	"mozc": "ja", "mozc-jp": "ja", "anthy": "ja", "kkc": "ja", "skk": "ja",
	"unikey": "vi", "bamboo": "vi",
}

// imLanguage is the language of an input method engine name: the fcitx5
// keyboard items ("keyboard-kr", "keyboard-us-intl") by their XKB layout,
// ibus XKB engines ("xkb:kr:kr104:kor") by their layout, the others by name.
func imLanguage(name string) string {
	n := strings.ToLower(name)
	if rest, ok := strings.CutPrefix(n, "keyboard-"); ok {
		l, _, _ := strings.Cut(rest, "-")
		return xkbLanguage(l)
	}
	if rest, ok := strings.CutPrefix(n, "xkb:"); ok {
		l, _, _ := strings.Cut(rest, ":")
		return xkbLanguage(l)
	}
	if l, ok := imLanguages[n]; ok {
		return l
	}
	// m17n engines carry the language: "m17n:ko:han2".
	if rest, ok := strings.CutPrefix(n, "m17n:"); ok {
		l, _, _ := strings.Cut(rest, ":")
		if len(l) == 2 && isAlpha(l) {
			return l
		}
	}
	return ""
}

// packageLanguage is the language of a Debian input-method package by its
// name: the engine suffix of ibus-*, fcitx-*, fcitx5-*, uim-* and
// scim-* packages ("fcitx5-hangul", "ibus-libpinyin", "ibus-mozc",
// "fcitx-sunpinyin", "uim-byeoru"), and a few stand-alone ones. It returns
// "" for packages that are not input methods.
func packageLanguage(pkg string) (lang string, ok bool) {
	p := strings.ToLower(pkg)
	switch p {
	case "nabi", "kime", "mozc-server", "mozc-utils-gui", "anthy":
		if p == "nabi" || p == "kime" {
			return "ko", true
		}
		return "ja", true
	}
	for _, fw := range []string{"ibus-", "fcitx5-", "fcitx-", "uim-", "scim-"} {
		rest, found := strings.CutPrefix(p, fw)
		if !found {
			continue
		}
		if rest == "chinese-addons" {
			return "zh", true
		}
		if l, found := imLanguages[rest]; found {
			return l, true
		}
		return "", false
	}
	return "", false
}

// langIDs maps Windows language identifiers (the low word of a KLID or HKL,
// and the LANGID prefix of an input method tip) to BCP 47 names. Source:
// Microsoft [MS-LCID] "Windows Language Code Identifier (LCID) Reference"
// and Microsoft Learn "Default Input Locales for Windows Language Packs";
// the Korean entry is the indicator catalogue's (LCID 0x0412 = 1042, ko-KR).
var langIDs = map[string]string{
	"0412": "ko-KR",
	"0804": "zh-CN", "0404": "zh-TW", "0c04": "zh-HK", "1004": "zh-SG", "1404": "zh-MO",
	"0411": "ja-JP",
	"0419": "ru-RU", "0422": "uk-UA", "0423": "be-BY",
	"042a": "vi-VN",
	"0429": "fa-IR",
	"0409": "en-US", "0809": "en-GB", "0c09": "en-AU", "1009": "en-CA", "4009": "en-IN", "1809": "en-IE",
	"0407": "de-DE", "0807": "de-CH", "0c07": "de-AT",
	"040c": "fr-FR", "080c": "fr-BE", "0c0c": "fr-CA", "100c": "fr-CH",
	"0410": "it-IT", "0c0a": "es-ES", "040a": "es-ES_tradnl", "080a": "es-MX",
	"0416": "pt-BR", "0816": "pt-PT", "0413": "nl-NL", "0415": "pl-PL",
	"041d": "sv-SE", "0414": "nb-NO", "0406": "da-DK", "040b": "fi-FI",
	"0405": "cs-CZ", "041f": "tr-TR", "040d": "he-IL", "0401": "ar-SA",
	"0439": "hi-IN", "041e": "th-TH", "0421": "id-ID", "043e": "ms-MY",
}

// klidLanguage is the language of a KLID ("00000412", "00010409",
// "e0010412") or an LCID ("00000412", "0412"): its low word.
func klidLanguage(klid string) string {
	k := strings.ToLower(strings.TrimSpace(klid))
	if len(k) < 4 {
		return ""
	}
	return langIDs[k[len(k)-4:]]
}

// darwinLanguage is the language of a macOS input source: by the bundle or
// mode identifier of an input method, by the name of a keyboard layout.
func darwinLanguage(id string) string {
	lower := strings.ToLower(id)
	for _, p := range []struct{ sub, lang string }{
		{"com.apple.inputmethod.korean", "ko"},
		{"org.youknowone.inputmethod.gureum", "ko"},
		{"com.apple.keylayout.2sethangul", "ko"},
		{"com.apple.keylayout.390hangul", "ko"},
		{"com.apple.inputmethod.scim", "zh-Hans"},
		{"com.apple.inputmethod.tcim", "zh-Hant"},
		{"com.apple.inputmethod.kotoeri", "ja"},
		{"com.apple.inputmethod.japanese", "ja"},
		{"com.google.inputmethod.japanese", "ja"},
		{"com.apple.inputmethod.vietnameseim", "vi"},
		{"com.apple.keylayout.russian", "ru"},
		{"com.apple.keylayout.vietnamese", "vi"},
		{"com.apple.keylayout.persian", "fa"},
		{"com.apple.keylayout.us", "en"},
		{"com.apple.keylayout.abc", "en"},
		{"com.apple.keylayout.british", "en"},
		{"com.apple.keylayout.german", "de"},
		{"com.apple.keylayout.french", "fr"},
	} {
		if strings.HasPrefix(lower, p.sub) {
			return p.lang
		}
	}
	return ""
}
