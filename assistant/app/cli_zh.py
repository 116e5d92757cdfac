"""The command line in Chinese: typer's and click's own words (help panels, usage line, value types, usage errors)
translated, as the `assistant` command prints them."""

from __future__ import annotations

# How the help names an option's value type (typer writes <path>, <int>, <list[str]>).
HELP_TYPE_NAMES = {"path": "<路径>", "str": "<文本>", "text": "<文本>", "int": "<整数>", "int range": "<整数>",
                   "float": "<数>", "list[str]": "<文本>", "list[Path]": "<路径>"}


def speak_chinese() -> None:
    """Typer's and click's own words (help panels, usage line, the help option, [required]) in Chinese.

    Typer reads these module constants when it prints, and typer vendors click (typer._click); the versions are
    pinned in constraints.txt, and tests/test_cli.py fails if an English word comes back.
    """
    from typer import rich_utils
    from typer._click import decorators, formatting

    rich_utils.ARGUMENTS_PANEL_TITLE = "参数"
    rich_utils.OPTIONS_PANEL_TITLE = "选项"
    rich_utils.COMMANDS_PANEL_TITLE = "命令"
    rich_utils.ERRORS_PANEL_TITLE = "错误"
    rich_utils.REQUIRED_LONG_STRING = "[必填]"
    rich_utils.DEFAULT_STRING = "[默认：{}]"
    rich_utils.ENVVAR_STRING = "[环境变量：{}]"
    rich_utils.DEPRECATED_STRING = "（已弃用）"
    rich_utils.ABORTED_TEXT = "已中断。"
    rich_utils.RICH_HELP = "运行 '{command_path} {help_option}' 查看用法。"

    write_usage = formatting.HelpFormatter.write_usage
    if not getattr(write_usage, "chinese", False):
        def chinese_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
            write_usage(self, prog, args, "用法：" if prefix is None else prefix)

        chinese_usage.chinese = True
        formatting.HelpFormatter.write_usage = chinese_usage

    from typer.core import TyperArgument, TyperOption

    for kind in (TyperOption, TyperArgument):
        if not getattr(kind.display_type_rich, "chinese", False):
            kind.display_type_rich = _chinese_type(kind.display_type_rich)

    help_option = decorators.help_option
    if not getattr(help_option, "chinese", False):
        def chinese_help_option(*names, **kwargs):
            add = help_option(*names, **kwargs)

            def apply(command):
                command = add(command)
                command.params[-1].help = "显示本帮助并退出。"
                return command

            return apply

        chinese_help_option.chinese = True
        decorators.help_option = chinese_help_option


def _chinese_type(display_type):
    def chinese_type(self, ctx) -> str | None:
        """A flag shows no value type (typer showed "--help <bool>"); other types are named in Chinese."""
        if getattr(self, "is_flag", False):
            return None
        shown = display_type(self, ctx)
        return shown if shown is None else HELP_TYPE_NAMES.get(shown.strip("<>"), shown)

    chinese_type.chinese = True
    return chinese_type


def usage_error(exc) -> str:
    """A usage error in one Chinese sentence (click's own messages are English)."""
    from typer._click.exceptions import BadParameter, MissingParameter, NoSuchOption

    def name(param) -> str:
        options = "/".join(o for o in getattr(param, "opts", []) if o.startswith("-"))
        return options or getattr(param, "metavar", None) or (param.name or "").upper()

    if isinstance(exc, MissingParameter) and exc.param is not None:
        kind = "参数" if exc.param.param_type_name == "argument" else "选项"
        message = f"缺少{kind} {name(exc.param)}。"
    elif isinstance(exc, NoSuchOption):
        message = f"没有选项 {exc.option_name}。"
    elif isinstance(exc, BadParameter):
        message = f"{name(exc.param) if exc.param is not None else exc.param_hint or ''} 的值无效。"
    elif "unexpected extra argument" in str(exc.message):
        message = "多余的参数（问题中有空格时请加引号）。"
    elif str(exc.message).startswith("No such command"):
        message = "没有这个命令。"
    else:
        message = f"用法错误（{exc.format_message()}）。"
    return message + " 运行 assistant --help 查看用法。"
