from lightning_app.parser_errors import condense

NESTED = """Parser key "data":
  Does not validate against any of the Union subtypes
  Subtypes: [<class 'datamodules.window_datamodule.WindowDataModule'>, <class 'NoneType'>]
  Errors:
    - Problem with given class_path 'datamodules.demo.SyntheticVideoDataModule':
        Parser key "batch_size":
          Not of type PositiveInt: 0 does not conform to restriction v>0
    - Expected a <class 'NoneType'>
  Given value type: <class 'jsonargparse._util.NestedArg'>
  Given value: NestedArg(key='batch_size', val='0')"""


def test_nested_subclass_error_becomes_key_and_reason():
    assert condense(NESTED) == "--data.batch_size: Not of type PositiveInt: 0 does not conform to restriction v>0"


def test_reason_on_the_key_line_and_plain_messages():
    assert condense('Parser key "model.lr":\n  Expected a <class \'float\'>. Got value: x') == \
        "--model.lr: Expected a <class 'float'>. Got value: x"
    assert condense("unrecognized arguments: --model.hiden_dim 3") == "unrecognized arguments: --model.hiden_dim 3"
