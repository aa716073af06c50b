"""Ollama Modelfiles: parse, lint, render the prompt a model sees, and write Gemmaiku's own.

The server and the pipeline use::

    from gemmaiku.modelfile import load_modelfile, render_prompt, gemmaiku_modelfile, write_modelfile

    modelfile = load_modelfile("out/Modelfile")
    prompt = render_prompt(modelfile, [{"role": "user", "content": "rain"}])
    options = modelfile.options(request_options, defaults=True)
"""

from gemmaiku.modelfile.gotemplate import TemplateError, parse_template
from gemmaiku.modelfile.lint import Finding, lint_modelfile
from gemmaiku.modelfile.parameters import PARAMETERS, Parameter
from gemmaiku.modelfile.parser import Modelfile, load_modelfile, parse_modelfile
from gemmaiku.modelfile.prompt import (
    DEFAULT_TEMPLATE,
    conversation,
    modelfile_conversation,
    render_prompt,
)
from gemmaiku.modelfile.write import GEMMAIKU_TEMPLATE, gemmaiku_modelfile, write_modelfile

__all__ = [
    "DEFAULT_TEMPLATE",
    "GEMMAIKU_TEMPLATE",
    "PARAMETERS",
    "Finding",
    "Modelfile",
    "Parameter",
    "TemplateError",
    "conversation",
    "gemmaiku_modelfile",
    "lint_modelfile",
    "load_modelfile",
    "modelfile_conversation",
    "parse_modelfile",
    "parse_template",
    "render_prompt",
    "write_modelfile",
]
